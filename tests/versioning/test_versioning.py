"""Semantic diff by JSON path, files read from git, and the lockfile."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flux2prompt import SourceError, load, scene
from flux2prompt._files import load_prompt_file
from flux2prompt._versioning import (
    LOCK_FILE,
    DiffEntry,
    Lock,
    LockEntry,
    build_lock,
    check_lock,
    compare_locks,
    diff,
    diff_sources,
    find_lock_file,
    find_prompt_files,
    lock_search_path,
    read_git_file,
    read_lock,
    request_fingerprint,
    write_lock,
)
from flux2prompt.transport import build_request
from testkit import git

V1 = """\
name = "harbour"
version = "1"
model = "klein-4b"

[parameters]
width = 768
height = 512
seed = 7

[prompt]
scene = "a quiet harbour at dawn with fishing boats"
mood = "calm"
effects = ["subtle film grain", "soft bloom"]

[[prompt.subjects]]
type = "fisherman"
pose = "standing"

[prompt.camera]
angle = "eye level"
"""

V2 = """\
name = "harbour"
version = "2"
model = "klein-4b"

[parameters]
width = 768
height = 512
seed = 7

[prompt]
scene = "a quiet harbour at dawn with fishing boats"
mood = "tense"
effects = ["subtle film grain"]

[[prompt.subjects]]
type = "fisherman"
pose = "kneeling"

[prompt.camera]
angle = "eye level"
lens = "85mm"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- diff ---------------------------------------------------------------------------------------


def test_identical_prompts_give_an_empty_diff() -> None:
    a = scene("fog").mood("calm").palette("#abc").compile()
    b = load({"mood": "calm", "scene": "fog", "color_palette": ["#AABBCC"]})
    result = diff(a, b)
    assert not result
    assert len(result) == 0
    assert result.render() == ""
    assert result.to_dict() == {"identical": True, "prompt": [], "metadata": []}


def test_diff_reports_added_removed_and_changed_paths() -> None:
    old = {
        "scene": "harbour",
        "mood": "calm",
        "subjects": [{"type": "gull", "pose": "gliding"}],
        "effects": ["grain", "soft bloom"],
    }
    new = {
        "scene": "harbour",
        "mood": "tense",
        "subjects": [{"type": "gull", "pose": "diving"}],
        "effects": ["grain"],
        "camera": {"lens": "85mm"},
    }
    result = diff(load(old), load(new))
    assert [str(entry) for entry in result] == [
        '~ $.subjects[0].pose: "gliding" → "diving"',
        '~ $.mood: "calm" → "tense"',
        '+ $.camera: {"lens": "85mm"}',
        '- $.effects[1]: "soft bloom"',
    ]
    assert [e.path for e in result.changed] == ["$.subjects[0].pose", "$.mood"]
    assert [e.path for e in result.added] == ["$.camera"]
    assert [e.path for e in result.removed] == ["$.effects[1]"]


def test_diff_of_nested_additions_and_odd_keys() -> None:
    result = diff(
        {"camera": {"angle": "low angle"}},
        {"camera": {"angle": "low angle", "lens": "85mm", "f-number": "f/2"}},
    )
    assert result.render().splitlines() == [
        '+ $.camera.lens: "85mm"',
        "+ $.camera['f-number']: \"f/2\"",
    ]


def test_diff_uses_json_equality() -> None:
    assert not diff({"camera": {"ISO": 100}}, {"camera": {"ISO": 100.0}})
    assert diff({"x": True}, {"x": 1}).paths == ("$.x",)
    assert diff({"x": {"a": 1}}, {"x": "a"}).changed[0] == DiffEntry(
        "changed", "$.x", {"a": 1}, "a"
    )


FOX = {"type": "fox", "description": "a red fox", "pose": "sitting"}
GULL = {"type": "gull", "description": "a herring gull", "pose": "gliding"}
BOAT = {"type": "boat", "description": "a blue fishing boat", "pose": "moored"}
DOG = {"type": "dog", "description": "a sheepdog", "pose": "running"}


def lines(a: object, b: object) -> list[str]:
    return [str(entry) for entry in diff({"subjects": a}, {"subjects": b})]


def test_an_item_inserted_at_the_front_is_one_addition() -> None:
    result = diff({"effects": ["a", "b"]}, {"effects": ["z", "a", "b"]})
    assert [str(e) for e in result] == ['+ $.effects[0]: "z"']
    assert lines([FOX, GULL], [DOG, FOX, GULL]) == [
        '+ $.subjects[0]: {"type": "dog", "description": "a sheepdog", "pose": "running"}'
    ]


def test_an_edited_subject_after_an_insertion_shows_its_fields() -> None:
    kneeling = {**FOX, "pose": "kneeling"}
    result = diff({"subjects": [FOX, GULL]}, {"subjects": [DOG, kneeling, GULL]})
    assert [str(e) for e in result] == [
        '+ $.subjects[0]: {"type": "dog", "description": "a sheepdog", "pose": "running"}',
        '~ $.subjects[1].pose: "sitting" → "kneeling"',
    ]
    changed = result.changed[0]
    assert (changed.path, changed.old_path, changed.moved) == (
        "$.subjects[1].pose",
        "$.subjects[0].pose",
        False,
    )
    assert changed.to_dict() == {
        "op": "changed",
        "path": "$.subjects[1].pose",
        "old_path": "$.subjects[0].pose",
        "old": "sitting",
        "new": "kneeling",
    }


def test_a_removal_in_the_middle_names_the_old_index() -> None:
    assert lines([FOX, GULL, BOAT], [FOX, BOAT]) == [
        '- $.subjects[1]: {"type": "gull", "description": "a herring gull", "pose": "gliding"}'
    ]
    result = diff({"effects": ["a", "b", "c", "d"]}, {"effects": ["a", "c", "z", "d"]})
    assert [str(e) for e in result] == ['- $.effects[1]: "b"', '+ $.effects[2]: "z"']
    # A field removed from a shifted subject: the new path, and the old one beside it.
    entry = diff(
        {"subjects": [GULL, FOX]}, {"subjects": [{"type": "fox", "description": "a red fox"}]}
    ).entries[-1]
    assert (str(entry), entry.old_path) == ('- $.subjects[0].pose: "sitting"', "$.subjects[1].pose")


def test_a_reorder_is_a_removal_and_an_addition() -> None:
    assert lines([FOX, GULL, BOAT], [BOAT, FOX, GULL]) == [
        '+ $.subjects[0]: {"type": "boat", "description": "a blue fishing boat", "pose": "moored"}',
        '- $.subjects[2]: {"type": "boat", "description": "a blue fishing boat", "pose": "moored"}',
    ]
    assert diff({"e": ["a", "b"]}, {"e": ["b", "a"]})


def test_an_edit_inside_a_moved_item() -> None:
    standing = {**BOAT, "pose": "drifting"}
    result = diff({"subjects": [FOX, GULL, BOAT]}, {"subjects": [standing, FOX, GULL]})
    assert [str(e) for e in result] == [
        '~ $.subjects[0].pose: "moored" → "drifting" (was $.subjects[2].pose)'
    ]
    (entry,) = result.entries
    assert entry.moved
    assert json.loads(result.to_json())["prompt"] == [
        {
            "op": "changed",
            "path": "$.subjects[0].pose",
            "old_path": "$.subjects[2].pose",
            "old": "moored",
            "new": "drifting",
        }
    ]


def test_identical_lists_and_replaced_values() -> None:
    assert not diff(
        {"subjects": [FOX, GULL], "effects": ["a"]}, {"subjects": [FOX, GULL], "effects": ["a"]}
    )
    # A replaced colour in place is a change, not a removal and an addition.
    palette = diff(
        {"color_palette": ["#111111", "#222222"]}, {"color_palette": ["#333333", "#222222"]}
    )
    assert [str(e) for e in palette] == ['~ $.color_palette[0]: "#111111" → "#333333"']
    # Subjects with nothing in common are not matched field by field.
    assert lines([FOX], [DOG]) == [
        '- $.subjects[0]: {"type": "fox", "description": "a red fox", "pose": "sitting"}',
        '+ $.subjects[0]: {"type": "dog", "description": "a sheepdog", "pose": "running"}',
    ]
    # Text elements pair by their content.
    old_text = [{"content": "SALE", "language": "en"}, {"content": "50%", "language": "en"}]
    new_text = [{"content": "50%", "language": "en"}, {"content": "SALE", "language": "en-GB"}]
    assert [str(e) for e in diff({"text": old_text}, {"text": new_text})] == [
        '~ $.text[1].language: "en" → "en-GB" (was $.text[0].language)'
    ]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(["a", "b", "fox", "a red fox"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["type", "pose", "content", "x"]), inner, max_size=3)
    ),
    max_leaves=12,
)
documents = st.dictionaries(
    st.sampled_from(["subjects", "effects", "mood"]), json_values, max_size=3
)


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True)


@settings(max_examples=300, deadline=None)
@given(documents, documents)
def test_diff_is_empty_exactly_when_the_documents_are_equal(
    a: dict[str, object], b: dict[str, object]
) -> None:
    assert not diff(a, copy.deepcopy(a))
    assert (not diff(a, b)) == (_canonical(a) == _canonical(b))


def _at(document: object, path: str) -> object:
    for key, index in re.findall(r"\.(\w+)|\[(\d+)\]", path.removeprefix("$")):
        document = document[key] if key else document[int(index)]  # type: ignore[index]
    return document


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, max_size=6), st.lists(json_values, max_size=6))
def test_every_difference_points_at_its_values(a: list[object], b: list[object]) -> None:
    """Added and changed values are at ``path`` in the new document; removed and old values at
    ``old_path`` (or ``path`` when it is the same) in the old one."""
    old, new = {"x": a}, {"x": b}
    for entry in diff(old, new):
        if entry.kind != "removed":
            assert _canonical(_at(new, entry.path)) == _canonical(entry.new)
        if entry.kind != "added":
            assert _canonical(_at(old, entry.old_path or entry.path)) == _canonical(entry.old)


def test_long_text_changes_show_the_changed_words() -> None:
    old = "a quiet harbour at dawn with fishing boats and gulls"
    new = "a busy harbour at dawn with fishing boats and gulls"
    result = diff({"scene": old}, {"scene": new})
    assert result.render().splitlines()[1] == (
        "    a [-quiet-]{+busy+} harbour at dawn with fishing boats and gulls"
    )
    assert DiffEntry("changed", "$.mood", "calm", "tense").word_diff() is None


def test_json_form_of_a_diff() -> None:
    data = json.loads(diff({"scene": "a", "mood": "m"}, {"scene": "b", "style": "s"}).to_json())
    assert data == {
        "identical": False,
        "prompt": [
            {"op": "changed", "path": "$.scene", "old": "a", "new": "b"},
            {"op": "added", "path": "$.style", "new": "s"},
            {"op": "removed", "path": "$.mood", "old": "m"},
        ],
        "metadata": [],
    }


def test_two_versions_of_a_prompt_file_differ_in_exactly_the_changed_paths(
    tmp_path: Path,
) -> None:
    """Acceptance 4."""
    a = load_prompt_file(write(tmp_path / "v1" / "harbour.prompt.toml", V1))
    b = load_prompt_file(write(tmp_path / "v2" / "harbour.prompt.toml", V2))
    result = diff(a, b)
    assert {(e.kind, e.path) for e in result.entries} == {
        ("changed", "$.subjects[0].pose"),
        ("changed", "$.mood"),
        ("added", "$.camera.lens"),
        ("removed", "$.effects[1]"),
    }
    assert [(e.kind, e.path, e.old, e.new) for e in result.metadata] == [
        ("changed", "$.version", "1", "2")
    ]
    assert not diff(a, load_prompt_file(tmp_path / "v1" / "harbour.prompt.toml"))


def test_diff_of_templates_compares_documents(tmp_path: Path) -> None:
    a = write(tmp_path / "a.prompt.json", '{"name": "t", "prompt": {"scene": "${city} at dawn"}}')
    b = write(tmp_path / "b.prompt.json", '{"name": "t", "prompt": {"scene": "${city} at dusk"}}')
    result = diff_sources(a, b)
    assert [str(e) for e in result] == ['~ $.scene: "${city} at dawn" → "${city} at dusk"']
    assert (result.a, result.b) == (str(a), str(b))


def test_diff_sources_mixes_plain_documents_and_prompt_files(tmp_path: Path) -> None:
    plain = write(tmp_path / "plain.json", '{"scene": "fog", "mood": "calm"}')
    wrapped = write(tmp_path / "w.prompt.toml", 'name = "w"\n[prompt]\nscene = "fog"\n')
    assert [str(e) for e in diff_sources(plain, wrapped)] == ['- $.mood: "calm"']


# -- git ----------------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    write(root / "prompts" / "harbour.prompt.toml", V1)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "v1")
    write(root / "prompts" / "harbour.prompt.toml", V2)
    return root


def test_diff_a_revision_against_the_working_tree(repo: Path) -> None:
    result = diff_sources(
        "HEAD:prompts/harbour.prompt.toml", "prompts/harbour.prompt.toml", cwd=repo
    )
    assert set(result.paths) == {"$.subjects[0].pose", "$.mood", "$.camera.lens", "$.effects[1]"}
    assert result.a == "HEAD:prompts/harbour.prompt.toml"
    git(repo, "commit", "-q", "-am", "v2")
    between = diff_sources(
        "HEAD~1:prompts/harbour.prompt.toml", "HEAD:./prompts/harbour.prompt.toml", cwd=repo
    )
    assert between.paths == result.paths


def test_read_git_file_errors_are_clear(repo: Path, tmp_path: Path) -> None:
    assert read_git_file("HEAD", "prompts/harbour.prompt.toml", cwd=repo).startswith(b'name = "')
    with pytest.raises(SourceError, match=r"^nope: no such revision in this repository; give"):
        read_git_file("nope", "prompts/x.toml", cwd=repo)
    with pytest.raises(SourceError, match=r"git cannot read it: .*missing\.toml"):
        read_git_file("HEAD", "missing.toml", cwd=repo)
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    env_dir = os.environ.get("GIT_CEILING_DIRECTORIES")
    os.environ["GIT_CEILING_DIRECTORIES"] = str(tmp_path)
    try:
        with pytest.raises(SourceError, match="not a git repository"):
            read_git_file("HEAD", "a.toml", cwd=outside)
    finally:
        if env_dir is None:
            del os.environ["GIT_CEILING_DIRECTORIES"]
        else:
            os.environ["GIT_CEILING_DIRECTORIES"] = env_dir


def test_missing_git_is_explained(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-bin-here"))
    with pytest.raises(SourceError, match="git is not installed"):
        read_git_file("HEAD", "prompts/harbour.prompt.toml", cwd=repo)


# -- lock ---------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "prompts" / "harbour.prompt.toml", V1)
    write(
        tmp_path / "prompts" / "more" / "poster.prompt.json",
        '{"name": "poster", "prompt": {"scene": "a ${city} poster"}}',
    )
    write(tmp_path / "prompts" / "plain.json", '{"scene": "not picked up by name"}')
    write(tmp_path / ".hidden" / "x.prompt.toml", 'name = "hidden"\n[prompt]\nscene = "x"\n')
    return tmp_path


def test_find_prompt_files_by_pattern_and_explicit_name(project: Path) -> None:
    found = find_prompt_files([project])
    assert [p.relative_to(project).as_posix() for p in found] == [
        "prompts/harbour.prompt.toml",
        "prompts/more/poster.prompt.json",
    ]
    explicit = write(project / "other.toml", 'name = "other"\n[prompt]\nscene = "o"\n')
    assert find_prompt_files([explicit, project / "prompts", explicit])[0] == explicit
    with pytest.raises(SourceError, match="no such file or directory"):
        find_prompt_files([project / "missing"])


def test_lock_records_fingerprints_stably(project: Path) -> None:
    lock = build_lock([project], base=project)
    harbour = load_prompt_file(project / "prompts" / "harbour.prompt.toml")
    expected = build_request(harbour.prompt, model="klein-4b", width=768, height=512, seed=7)
    assert lock.prompts["harbour"] == LockEntry(
        "prompts/harbour.prompt.toml", harbour.prompt.fingerprint, expected.fingerprint
    )
    poster = lock.prompts["poster"]
    assert poster.template
    assert poster.request_fingerprint is None
    assert poster.prompt_fingerprint.startswith("sha256:")
    text = lock.to_json()
    assert text.endswith("}\n")
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert list(data) == ["jobs", "lock_version", "prompts", "schema_version"]
    assert data["lock_version"] == 2
    assert data["schema_version"] == 1
    assert data["prompts"]["harbour"] == {
        "path": "prompts/harbour.prompt.toml",
        "source": "prompts/harbour.prompt.toml",
        "profile": "flux2",
        "prompt_fingerprint": harbour.prompt.fingerprint,
        "request_fingerprint": expected.fingerprint,
    }
    assert data["prompts"]["poster"]["template"] is True
    assert build_lock([project], base=project).to_json() == text


def test_request_fingerprint_matches_the_transport() -> None:
    prompt = scene("fog").compile()
    assert request_fingerprint(prompt) == build_request(prompt).fingerprint
    assert request_fingerprint(prompt, model="dev", parameters={"seed": 3}) == (
        build_request(prompt, model="flux-2-dev", seed=3).fingerprint
    )


def test_write_lock_reports_whether_it_changed(project: Path) -> None:
    lock_path = project / LOCK_FILE
    lock = build_lock([project], base=project)
    assert write_lock(lock, lock_path) is True
    assert write_lock(lock, lock_path) is False
    assert read_lock(lock_path) == lock


def test_lock_check_fails_on_a_changed_prompt_and_passes_after_lock(project: Path) -> None:
    """Acceptance 3, through the library."""
    lock_path = project / LOCK_FILE
    write_lock(build_lock([project], base=project), lock_path)
    assert check_lock([project], lock_path).ok
    harbour = project / "prompts" / "harbour.prompt.toml"
    old = load_prompt_file(harbour).prompt.fingerprint
    harbour.write_text(V1.replace('mood = "calm"', 'mood = "stormy"'), encoding="utf-8")
    new = load_prompt_file(harbour).prompt.fingerprint
    result = check_lock([project], lock_path)
    assert not result.ok
    assert [(c.kind, c.name) for c in result.changes] == [("changed", "harbour")]
    line = result.render()
    assert f"prompt {old[:23]} → {new[:23]}" in line
    assert "request sha256:" in line
    write_lock(build_lock([project], base=project), lock_path)
    assert check_lock([project], lock_path).ok


def test_lock_check_lists_added_removed_and_moved(project: Path) -> None:
    lock_path = project / LOCK_FILE
    write_lock(build_lock([project], base=project), lock_path)
    (project / "prompts" / "harbour.prompt.toml").rename(project / "harbour.prompt.toml")
    (project / "prompts" / "more" / "poster.prompt.json").unlink()
    write(project / "new.prompt.toml", 'name = "new"\n[prompt]\nscene = "n"\n')
    result = check_lock([project], lock_path)
    assert [(c.kind, c.name) for c in result.changes] == [
        ("moved", "harbour"),
        ("added", "new"),
        ("removed", "poster"),
    ]
    assert result.render().splitlines() == [
        "~ harbour: moved from prompts/harbour.prompt.toml to harbour.prompt.toml",
        "+ new: new prompt file new.prompt.toml",
        "- poster: no longer found (was prompts/more/poster.prompt.json)",
    ]


def test_parameters_change_the_request_fingerprint_only(project: Path) -> None:
    lock_path = project / LOCK_FILE
    write_lock(build_lock([project], base=project), lock_path)
    harbour = project / "prompts" / "harbour.prompt.toml"
    harbour.write_text(V1.replace("seed = 7", "seed = 8"), encoding="utf-8")
    (change,) = check_lock([project], lock_path).changes
    assert change.old is not None
    assert change.new is not None
    assert change.old.prompt_fingerprint == change.new.prompt_fingerprint
    assert change.old.request_fingerprint != change.new.request_fingerprint
    assert str(change).startswith("~ harbour (prompts/harbour.prompt.toml): request sha256:")


def test_bad_parameters_are_reported_with_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "k.prompt.toml",
        'name = "k"\nmodel = "klein-4b"\n[parameters]\nsteps = 20\n[prompt]\nscene = "k"\n',
    )
    with pytest.raises(SourceError, match=rf"^{path}: model or parameters: .*steps"):
        build_lock([tmp_path], base=tmp_path)


def test_duplicate_names_name_both_files(tmp_path: Path) -> None:
    a = write(tmp_path / "a.prompt.toml", 'name = "same"\n[prompt]\nscene = "a"\n')
    b = write(tmp_path / "b.prompt.toml", 'name = "same"\n[prompt]\nscene = "b"\n')
    with pytest.raises(SourceError) as caught:
        build_lock([tmp_path], base=tmp_path)
    message = str(caught.value)
    assert str(a) in message
    assert str(b) in message
    assert "duplicate prompt name 'same'" in message


def test_schema_version_change_is_reported() -> None:
    entry = LockEntry("a.prompt.toml", "sha256:1", "sha256:2")
    result = compare_locks(Lock({"a": entry}, schema_version=0), Lock({"a": entry}))
    assert not result.ok
    assert result.render().startswith("schema version 0 → 1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", r"\$: expected an object"),
        ('{"lock_version": 1, "schema_version": 1}', r"\$\.prompts: expected an object"),
        ('{"lock_version": 9, "schema_version": 1, "prompts": {}}', "upgrade flux2prompt"),
        (
            '{"lock_version": 1, "schema_version": 1, "prompts": {"a": {"path": 1}}}',
            r"\$\.prompts\.a: expected 'path'",
        ),
        ("{", "invalid JSON"),
    ],
)
def test_malformed_lock_files(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / LOCK_FILE, text)
    with pytest.raises(SourceError, match=message):
        read_lock(path)
    with pytest.raises(SourceError, match="no such file"):
        read_lock(tmp_path / "missing.lock")


def test_find_lock_file_searches_upward_to_the_repository_root(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    deep = root / "a" / "b"
    deep.mkdir(parents=True)
    (root / ".git").mkdir()
    write(tmp_path / LOCK_FILE, "{}")  # above the repository: never found from inside it
    assert lock_search_path(deep) == (deep, root / "a", root)
    assert find_lock_file(deep) is None
    write(root / LOCK_FILE, "{}")
    assert find_lock_file(deep) == root / LOCK_FILE
    write(root / "a" / LOCK_FILE, "{}")
    assert find_lock_file(deep) == root / "a" / LOCK_FILE
    assert find_lock_file(root) == root / LOCK_FILE
    (root / "a" / "b" / LOCK_FILE).mkdir()  # a folder of that name is not a lockfile
    assert find_lock_file(deep) == root / "a" / LOCK_FILE
    # Outside any repository the search goes on to the filesystem's root.
    top = lock_search_path(tmp_path)[-1]
    assert top == Path(tmp_path.anchor) or (top / ".git").exists()


def test_diff_sources_says_which_file_is_invalid(tmp_path: Path) -> None:
    from flux2prompt import PromptValidationError

    good = tmp_path / "good.json"
    good.write_text('{"scene": "fog"}', encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text('{"scene": 3}', encoding="utf-8")
    with pytest.raises(PromptValidationError) as caught:
        diff_sources(good, bad)
    assert str(caught.value).startswith(f"{bad}: prompt is invalid")
    assert [str(issue) for issue in caught.value.issues] == [
        "$.scene: expected a string, got integer 3"
    ]


def test_a_per_item_row_nested_past_any_depth_is_a_clear_error(tmp_path: Path) -> None:
    from flux2prompt._versioning._lock import items_path

    path = write(tmp_path / LOCK_FILE, '{"lock_version": 2, "schema_version": 1, "prompts": {}}')
    write(items_path(path), "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(SourceError, match="line 1: not a row of a flux2prompt per-item table"):
        read_lock(path)


def test_a_lockfile_past_the_size_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lockfile (or per-item table) larger than any flux2prompt writes is refused from its
    size, with the fix; the limit is lowered here so that the test writes a small file."""
    import flux2prompt._versioning._lock as lock_module

    write(tmp_path / "fox.prompt.toml", 'name = "fox"\n[prompt]\nscene = "a fox"\n')
    lock = tmp_path / "flux2prompt.lock"
    write_lock(build_lock([tmp_path], base=tmp_path), lock)
    monkeypatch.setattr(lock_module, "MAX_LOCK_BYTES", lock.stat().st_size - 1)
    with pytest.raises(SourceError) as caught:
        read_lock(lock)
    assert str(caught.value) == (
        f"{lock}: is larger than the {lock.stat().st_size - 1:,} bytes a lockfile may have: "
        "flux2prompt did not write it; run `flux2-prompt lock`"
    )
