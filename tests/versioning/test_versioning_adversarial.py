"""Hostile input to prompt versioning: lockfiles and per-item tables edited by hand or by
accident, datasets the lock cannot fingerprint, git repositories in odd states, and images whose
provenance record does not hold what it claims. Each case ends in one line naming the file (and
line) and saying what to do, never a traceback and never a silent wrong answer."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from flux2prompt import SourceError, build_lock, read_lock, write_lock
from flux2prompt._versioning._provenance import match_lock
from flux2prompt.transport import Provenance, write_provenance

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))

SHOP = """\
from flux2prompt import scene, template


@template
def bottle(color: str):
    return scene(f"a {color} water bottle")
"""


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A project with a prompt file and a job over a two-row dataset, locked."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "fox.prompt.toml").write_text(
        'name = "fox"\n[prompt]\nscene = "a quiet fox"\n', encoding="utf-8"
    )
    (tmp_path / "shop.py").write_text(SHOP, encoding="utf-8")
    (tmp_path / "rows.csv").write_text("color\nteal\ncoral\n", encoding="utf-8")
    (tmp_path / "job.toml").write_text(
        'template = "shop.py:bottle"\noutput = "{color}.{ext}"\nseeds = 7\n'
        '[variables]\ndataset = "rows.csv"\n',
        encoding="utf-8",
    )
    write_lock(build_lock([tmp_path], base=tmp_path), tmp_path / "flux2prompt.lock")
    return tmp_path


def _edit_table(folder: Path, old: str, new: str) -> None:
    table = folder / "flux2prompt.lock.items"
    text = table.read_text(encoding="utf-8")
    assert old in text
    table.write_text(text.replace(old, new, 1), encoding="utf-8")


def _edit_lock(folder: Path, edit: object) -> None:
    path = folder / "flux2prompt.lock"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert callable(edit)
    edit(data)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


# -- the per-item table -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"index":0', '"index":1e400'),  # infinity: int() of it overflows
        ('"index":0', '"index":0.5'),
        ('"index":0', '"index":true'),
        ('"seed":7', '"seed":[7]'),  # unhashable: pairing rows by seed broke on it
        ('"seed":7', '"seed":NaN'),
        ('"seed":7', '"seed":"7"'),
        ('"origin":"rows.csv:2"', '"origin":{"file":"rows.csv"}'),
        ('"request_fingerprint":"sha256:', '"request_fingerprint":7,"x":"'),
    ],
)
def test_a_table_row_of_the_wrong_types_names_its_line(shop: Path, old: str, new: str) -> None:
    _edit_table(shop, old, new)
    (shop / "rows.csv").write_text("color\nolive\ncoral\n", encoding="utf-8")  # a change to pair
    with pytest.raises(SourceError) as caught:
        read_lock(shop / "flux2prompt.lock")
    assert str(caught.value).startswith(f"{shop / 'flux2prompt.lock.items'}: line 2: ")
    done = _run(shop, "lock", "--check")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "error: flux2prompt.lock.items: line 2: not a row of a flux2prompt per-item table"
        )
    )


def test_table_rows_of_a_job_the_lockfile_does_not_have_are_refused(shop: Path) -> None:
    table = shop / "flux2prompt.lock.items"
    rows = table.read_text(encoding="utf-8").splitlines()
    ghost = [
        row.replace('"job":"job.toml"', '"job":"ghost.toml"') for row in rows if '"job"' in row
    ]
    table.write_text("\n".join([*rows, *ghost]) + "\n", encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        read_lock(shop / "flux2prompt.lock")
    assert str(caught.value) == (
        f"{table}: the per-item table has 2 rows of job 'ghost.toml', which the lockfile does "
        "not list; run `flux2-prompt lock` and commit both files"
    )


# -- the lockfile -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "key", "value", "expected"),
    [
        ("jobs", "items", "2", "expected path, name, template, model, parameters, profile, items"),
        ("jobs", "items", 2.7, "expected path, name, template, model, parameters, profile, items"),
        ("jobs", "items", True, "expected path, name, template, model, parameters, profile, items"),
        ("jobs", "name", 3, "expected path, name, template, model, parameters, profile, items"),
        ("jobs", "parameters", [["width", 768]], "expected path, name, template, model"),
        ("prompts", "source", ["fox.prompt.toml"], "expected 'source' to be a string"),
        ("prompts", "profile", {"name": "flux2"}, "expected 'profile' to be a string"),
        ("prompts", "template", "yes", "expected 'template' to be true or false"),
    ],
)
def test_a_lockfile_value_of_the_wrong_type_is_refused(
    shop: Path, where: str, key: str, value: object, expected: str
) -> None:
    name, path = ("job.toml", "['job.toml']") if where == "jobs" else ("fox", ".fox")
    _edit_lock(shop, lambda data: data[where][name].__setitem__(key, value))
    with pytest.raises(SourceError) as caught:
        read_lock(shop / "flux2prompt.lock")
    message = str(caught.value)
    assert message.startswith(f"{shop / 'flux2prompt.lock'}: $.{where}{path}: {expected}")
    assert message.endswith(
        "this is not a flux2prompt lockfile (rewrite it with `flux2-prompt lock`)"
    )
    done = _run(shop, "lock", "--check")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


# -- a dataset the lock cannot fingerprint ------------------------------------------------------

SIZED = """\
from flux2prompt import scene, template


@template
def card(color: str, size: float):
    return scene(f"a {color} card, {size} cm")
"""


def test_a_dataset_row_holding_nan_is_named_by_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "cards.py").write_text(SIZED, encoding="utf-8")
    (tmp_path / "rows.jsonl").write_text(
        '{"color": "teal", "size": 1}\n{"color": "red", "size": 2}\n'
        '{"color": "red", "size": NaN}\n',
        encoding="utf-8",
    )
    (tmp_path / "job.toml").write_text(
        'template = "cards.py:card"\noutput = "{color}-{size}.{ext}"\n'
        '[variables]\ndataset = "rows.jsonl"\n',
        encoding="utf-8",
    )
    expected = (
        "error: rows.jsonl:3: variables are not JSON data: 'size' holds nan, which JSON has no "
        "form for (no NaN or Infinity); write a number or text (job.toml, item 2)"
    )
    done = _run(tmp_path, "lock")
    assert done.returncode == 2, done.stdout + done.stderr
    assert expected in done.stderr.splitlines()
    assert not (tmp_path / "flux2prompt.lock").exists()
    with pytest.raises(SourceError) as caught:
        build_lock([tmp_path], base=tmp_path)
    assert caught.value.source is not None
    assert (Path(caught.value.source), caught.value.line) == (tmp_path / "rows.jsonl", 3)


# -- provenance that does not hold what it claims -----------------------------------------------


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def _genuine(shop: Path) -> tuple[Provenance, Provenance]:
    """The records generate and batch write for the shop's prompt file and its first item."""
    from flux2prompt import load, load_prompt_file
    from flux2prompt._versioning import build_inventory
    from flux2prompt.transport import build_request

    fox = load_prompt_file(shop / "fox.prompt.toml")
    prompt = Provenance.from_request(
        build_request(fox.prompt, model=fox.model or "flux-2-dev", **fox.parameters),
        source="fox.prompt.toml",
    )
    (item, *_) = [e for e in build_inventory([shop], base=shop).entries if e.kind == "item"]
    assert item.document is not None
    request = build_request(
        load(dict(item.document)), model=item.metadata["model"], **item.metadata["parameters"]
    )
    return prompt, Provenance.from_request(request, job="job")


def _inspect(shop: Path, record: Provenance) -> dict[str, object]:
    (shop / "image.png").write_bytes(write_provenance(_png(), record))
    done = _run(shop, "inspect", "--json", "image.png")
    assert "Traceback" not in done.stderr
    (report,) = json.loads(done.stdout)
    assert isinstance(report, dict)
    return report


def test_genuine_records_are_current(shop: Path) -> None:
    for record in _genuine(shop):
        assert _inspect(shop, record)["status"] == "current"


@pytest.mark.parametrize(
    ("which", "forge", "why"),
    [
        # Another prompt in the image, under the locked fingerprints.
        (0, {"prompt": '{"scene":"a fox with a forged watermark"}'}, "its prompt"),
        (0, {"prompt_fingerprint": "sha256:" + "0" * 64}, "its prompt fingerprint"),
        (1, {"prompt_fingerprint": "sha256:" + "0" * 64}, "its prompt fingerprint"),
        # The item's request fingerprint, with another seed, model or size.
        (1, {"parameters": {"seed": 8}}, "parameter 'seed'"),
        (1, {"model": "@cf/black-forest-labs/flux-2-klein-9b"}, "its model"),
        (1, {"parameters": {"width": 2048}}, "parameter 'width'"),
    ],
)
def test_a_record_whose_contents_do_not_match_its_fingerprint_is_not_current(
    shop: Path, which: int, forge: dict[str, Any], why: str
) -> None:
    genuine = _genuine(shop)[which]
    if "parameters" in forge:
        forge = {"parameters": {**genuine.parameters, **forge["parameters"]}}
    forged = dataclasses.replace(genuine, **forge)
    report = _inspect(shop, forged)
    assert report["status"] == "not_locked"
    lock = report["lock"]
    assert isinstance(lock, dict)
    assert why in str(lock["detail"])
    assert "the record was edited or forged" in str(lock["detail"])
    match = match_lock(forged, read_lock(shop / "flux2prompt.lock"))
    assert not match.ok


# -- prompt snapshots ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"scene": ' + "9" * 5000 + "}", "a number has too many digits"),
        ('{"scene": "a dog",\n "scene": "a fox"}', "line 2: duplicate key 'scene'"),
        ('{"scene": NaN}', "line 1: NaN is not valid JSON"),
        ('{"scene": 1e999}', "out of the range of a JSON number"),
    ],
)
def test_a_hand_edited_snapshot_is_one_failure_saying_what_is_wrong(
    tmp_path: Path, text: str, why: str
) -> None:
    from flux2prompt import scene
    from flux2prompt._snapshot import PromptSnapshot

    (tmp_path / "fox.json").write_text(text, encoding="utf-8")
    snapshots = PromptSnapshot(tmp_path, "test_fox")
    with pytest.raises(pytest.fail.Exception) as caught:
        snapshots.assert_match(scene("a fox"), name="fox")
    message = str(caught.value)
    assert "fox.json is not valid JSON (" in message
    assert why in message
    assert message.endswith("; rewrite it with: pytest --update-prompt-snapshots")


@pytest.mark.parametrize("update", [False, True])
def test_a_long_parametrized_test_name_makes_a_snapshot_name_a_file_system_takes(
    tmp_path: Path, update: bool
) -> None:
    from flux2prompt import scene
    from flux2prompt._snapshot import PromptSnapshot

    test = "test_poster[" + "a vintage travel poster of Lisbon at golden hour " * 8 + "]"
    snapshots = PromptSnapshot(tmp_path, test, update=update)
    if update:
        snapshots.assert_match(scene("a fox"))
        (written,) = tmp_path.iterdir()
        assert len(written.name) <= 128
        again = PromptSnapshot(tmp_path, test)
        again.assert_match(scene("a fox"))  # found again under the same name
        other = PromptSnapshot(tmp_path, test.replace("Lisbon", "Porto"), update=True)
        other.assert_match(scene("a fox"))
        assert len(list(tmp_path.iterdir())) == 2  # two tests, two snapshots
    else:
        with pytest.raises(pytest.fail.Exception, match="no prompt snapshot"):
            snapshots.assert_match(scene("a fox"))


def test_a_snapshot_name_too_long_for_a_file_is_refused_by_name(tmp_path: Path) -> None:
    from flux2prompt import scene
    from flux2prompt._snapshot import PromptSnapshot

    snapshots = PromptSnapshot(tmp_path, "test_fox", update=True)
    with pytest.raises(ValueError, match=r"snapshot name 'a+'\.\.\.: at most 120 characters"):
        snapshots.assert_match(scene("a fox"), name="a" * 300)


def test_a_table_with_bytes_that_are_not_utf8_names_the_line(shop: Path) -> None:
    table = shop / "flux2prompt.lock.items"
    data = table.read_bytes()
    assert b'"origin":"rows.csv:3"' in data
    table.write_bytes(data.replace(b'"origin":"rows.csv:3"', b'"origin":"rows\xff.csv:3"'))
    with pytest.raises(SourceError) as caught:
        read_lock(shop / "flux2prompt.lock")
    assert str(caught.value) == (
        f"{table}: line 3: not UTF-8 text; this is not a flux2prompt per-item table (rewrite it "
        "with `flux2-prompt lock`)"
    )


# -- git ----------------------------------------------------------------------------------------


def test_export_attributes_do_not_change_the_old_side(tmp_path: Path) -> None:
    """``export-ignore`` and ``export-subst`` shape release archives; the old side of a diff is
    the revision as committed: an ignored dataset is still there, a ``$Format:...$`` still
    reads as written."""
    from testkit import git

    (tmp_path / ".gitattributes").write_text(
        "/.gitattributes export-ignore\n*.csv export-ignore\ndata/ export-ignore\n"
        "*.prompt.toml export-subst\n",
        encoding="utf-8",
    )
    (tmp_path / "shop.py").write_text(SHOP, encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text("color\nteal\ncoral\n", encoding="utf-8")
    (tmp_path / "job.toml").write_text(
        'template = "shop.py:bottle"\noutput = "{color}.{ext}"\nseeds = 7\n'
        '[variables]\ndataset = "data/rows.csv"\n',
        encoding="utf-8",
    )
    (tmp_path / "fox.prompt.toml").write_text(
        'name = "fox"\n[prompt]\nscene = "a fox, build $Format:%H$"\n', encoding="utf-8"
    )
    assert _run(tmp_path, "lock").returncode == 0
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "shop")
    (tmp_path / "data" / "rows.csv").write_text("color\nteal\nolive\n", encoding="utf-8")
    done = _run(tmp_path, "diff", "--rev", "HEAD")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines()[2:] == [
        "~ job.toml [data/rows.csv:3; color=olive; seed 7]: changed",
        '    ~ $.scene: "a coral water bottle" → "a olive water bottle"',
    ]
    check = _run(tmp_path, "lock", "--check")
    assert check.returncode == 1
    assert '    ~ $.scene: "a coral water bottle" → "a olive water bottle"' in check.stdout


def test_a_record_whose_prompt_is_not_its_fingerprints_text_is_not_matched_by_it(
    shop: Path,
) -> None:
    """Nor is the prompt fingerprint taken at its word to name the prompt an image came from."""
    genuine, _ = _genuine(shop)
    forged = dataclasses.replace(
        genuine,
        prompt='{"scene":"a forged fox"}',
        request_fingerprint="sha256:" + "1" * 64,
        model="@cf/black-forest-labs/flux-2-klein-9b",
    )
    report = _inspect(shop, forged)
    assert report["status"] == "not_locked"
    lock = report["lock"]
    assert isinstance(lock, dict)
    assert lock["detail"] == (
        "the record's prompt is not the text of its prompt fingerprint: the record was edited "
        "or forged, so its fingerprints are not trusted"
    )


def test_a_dataset_outside_the_repository_is_not_read_beside_the_old_tree(
    tmp_path: Path,
) -> None:
    """The old side's tree is copied into a temporary folder: a dataset the job names outside
    the repository (``../shared/rows.csv``) has no version at the revision, and whatever lies
    beside that folder is not read in its place."""
    from testkit import git

    repo, shared = tmp_path / "repo", tmp_path / "shared"
    repo.mkdir()
    shared.mkdir()
    (repo / "shop.py").write_text(SHOP, encoding="utf-8")
    (shared / "rows.csv").write_text("color\nteal\ncoral\n", encoding="utf-8")
    (repo / "job.toml").write_text(
        'template = "shop.py:bottle"\noutput = "{color}.{ext}"\nseeds = 7\n'
        '[variables]\ndataset = "../shared/rows.csv"\n',
        encoding="utf-8",
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "shop")
    # Where "../shared/rows.csv" leads from a tree copied into the temporary folder.
    decoy = Path(tempfile.gettempdir()) / "shared" / "rows.csv"
    if decoy.exists():
        pytest.skip(f"{decoy} exists on this machine")
    decoy.parent.mkdir(exist_ok=True)
    try:
        decoy.write_text("color\nDECOY\n", encoding="utf-8")
        (repo / "shop.py").write_text(SHOP.replace("water bottle", "bottle"), encoding="utf-8")
        done = _run(repo, "diff", "--rev", "HEAD")
    finally:
        decoy.unlink()
        with contextlib.suppress(OSError):
            decoy.parent.rmdir()
    assert done.returncode == 0, done.stderr
    assert "DECOY" not in done.stdout
    assert done.stderr.splitlines() == [
        "note: at HEAD, job.toml: its dataset ../shared/rows.csv is outside the repository, so "
        "it has no version at a revision; left out of the old side, so what it holds now shows "
        "as added"
    ]


def test_an_old_side_that_never_finishes_importing_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flux2prompt._versioning import _revision, diff_revision
    from testkit import git

    (tmp_path / "pyproject.toml").write_text(
        '[tool.flux2prompt]\nmodules = ["hero.py"]\n', encoding="utf-8"
    )
    (tmp_path / "hero.py").write_text(
        "import time\ntime.sleep(600)\nfrom flux2prompt import scene\nhero = scene('a fox')\n",
        encoding="utf-8",
    )
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "slow")
    (tmp_path / "hero.py").write_text(
        "from flux2prompt import scene\nhero = scene('a fox')\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_revision, "WORKER_TIMEOUT", 3)
    with pytest.raises(SourceError) as caught:
        diff_revision("HEAD")
    assert str(caught.value) == (
        "HEAD: reading the old side took longer than 3 s and was stopped (a module at the "
        "revision that never finishes importing?)"
    )
