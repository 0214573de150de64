"""The ``prompt_snapshot`` pytest fixture, run in real pytest sessions with ``pytester``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from flux2prompt import scene
from flux2prompt._snapshot import PromptSnapshot

pytest_plugins = ["pytester"]

TEST_MODULE = """
from flux2prompt import scene

MOOD = "calm"

def test_hero(prompt_snapshot):
    prompt_snapshot.assert_match(scene("a lighthouse at dusk").mood(MOOD).palette("#abc"))

def test_named(prompt_snapshot):
    prompt_snapshot.assert_match({"scene": "fog"}, name="fog-plain")
    prompt_snapshot.assert_match(scene("rain").compile(), name="rain")
"""


def snapshot_dir(pytester: pytest.Pytester) -> Path:
    return pytester.path / "__prompt_snapshots__" / "test_prompts"


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # In-process runs forget the modules they import; auto-loading every installed plugin
    # (hypothesis takes most of a second) on each run would make this file slow. The plugin is
    # loaded by name instead, and its entry point is tested once in a subprocess.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess("-p", "flux2prompt._snapshot", *args)


def test_the_plugin_is_registered_by_its_entry_point(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    pytester.makepyfile(test_prompts=TEST_MODULE)
    result = pytester.runpytest_subprocess("--update-prompt-snapshots", "-p", "no:asyncio")
    result.assert_outcomes(passed=2)
    assert (snapshot_dir(pytester) / "test_hero.json").is_file()


def test_missing_snapshot_fails_and_says_how_to_create_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_prompts=TEST_MODULE)
    result = run(pytester)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*no prompt snapshot 'test_hero' at __prompt_snapshots__/test_prompts/test_hero.json",
            "*pytest --update-prompt-snapshots*",
        ]
    )
    assert not snapshot_dir(pytester).exists()


def test_update_writes_snapshots_then_they_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_prompts=TEST_MODULE)
    result = run(pytester, "--update-prompt-snapshots")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*flux2prompt: wrote 3 prompt snapshots*"])
    folder = snapshot_dir(pytester)
    assert sorted(p.name for p in folder.iterdir()) == [
        "fog-plain.json",
        "rain.json",
        "test_hero.json",
    ]
    hero = (folder / "test_hero.json").read_text(encoding="utf-8")
    assert hero == (
        '{\n  "scene": "a lighthouse at dusk",\n  "color_palette": [\n    "#AABBCC"\n  ],\n'
        '  "mood": "calm"\n}\n'
    )
    result = run(pytester)
    result.assert_outcomes(passed=2)
    assert "wrote" not in result.stdout.str()


def test_a_changed_prompt_fails_with_a_semantic_diff_and_fingerprints(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_prompts=TEST_MODULE)
    run(pytester, "--update-prompt-snapshots").assert_outcomes(passed=2)
    old = scene("a lighthouse at dusk").palette("#abc").mood("calm").compile().fingerprint
    new = scene("a lighthouse at dusk").palette("#abc").mood("tense").compile().fingerprint
    pytester.makepyfile(test_prompts=TEST_MODULE.replace('MOOD = "calm"', 'MOOD = "tense"'))
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*prompt does not match snapshot 'test_hero' (__prompt_snapshots__/test_prompts/"
            "test_hero.json):",
            '*~ $.mood: "calm" → "tense"',
            f"*snapshot fingerprint: {old}",
            f"*current fingerprint:  {new}",
            "*if the change is intended, review it and run: pytest --update-prompt-snapshots",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "def assert_match" not in result.stdout.str()  # no library frames, just the message


def test_formatting_only_changes_are_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_prompts=TEST_MODULE)
    run(pytester, "--update-prompt-snapshots")
    path = snapshot_dir(pytester) / "rain.json"
    path.write_text('{"scene": "rain"}', encoding="utf-8")
    result = run(pytester, "-k", "named")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*same keys and values; the key order or formatting differs*"])
    path.write_text("{ broken", encoding="utf-8")
    result = run(pytester, "-k", "named")
    result.stdout.fnmatch_lines(["*rain.json is not valid JSON (line 1*"])
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    result = run(pytester, "-k", "named")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*rain.json is nested too deeply to be a prompt*"])
    assert "RecursionError" not in result.stdout.str()


def test_unnamed_snapshots_in_one_test_are_numbered(tmp_path: Path) -> None:
    snapshots = PromptSnapshot(tmp_path, "test_x[a b]", update=True)
    snapshots.assert_match(scene("one"))
    snapshots.assert_match(scene("two"))
    # The space was replaced, so a hash of the real name keeps it apart from "test_x[a_b]".
    base = "test_x[a_b]-" + hashlib.sha256(b"test_x[a b]").hexdigest()[:8]
    assert {p.name for p in tmp_path.iterdir()} == {f"{base}.json", f"{base}-2.json"}
    assert json.loads((tmp_path / f"{base}-2.json").read_text("utf-8")) == {"scene": "two"}
    with pytest.raises(ValueError, match="no path separators"):
        snapshots.assert_match(scene("three"), name="../escape")
    with pytest.raises(ValueError, match="used twice"):
        snapshots.assert_match(scene("four"), name=base)


def test_default_names_keep_classes_and_parameters_apart(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_prompts="""
import pytest
from flux2prompt import scene

class TestMug:
    def test_hero(self, prompt_snapshot):
        prompt_snapshot.assert_match(scene("a mug"))

class TestVase:
    def test_hero(self, prompt_snapshot):
        prompt_snapshot.assert_match(scene("a vase"))

@pytest.mark.parametrize("city", ["a/b", "a_b", "ab"])
def test_city(prompt_snapshot, city):
    prompt_snapshot.assert_match(scene(city))
"""
    )
    run(pytester, "--update-prompt-snapshots").assert_outcomes(passed=5)
    names = sorted(path.name for path in snapshot_dir(pytester).iterdir())
    assert len(names) == 5
    assert {"TestMug.test_hero.json", "TestVase.test_hero.json"} <= set(names)
    assert {"test_city[ab].json", "test_city[a_b].json"} <= set(names)
    run(pytester).assert_outcomes(passed=5)


def test_a_snapshot_that_cannot_be_read_is_one_message_and_update_rewrites_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_prompts=TEST_MODULE)
    run(pytester, "--update-prompt-snapshots").assert_outcomes(passed=2)
    path = snapshot_dir(pytester) / "rain.json"
    good = path.read_bytes()
    path.write_bytes('{"scene": "caf\u00e9"}'.encode("latin-1"))  # saved in another encoding
    result = run(pytester, "-k", "named")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*prompt snapshot __prompt_snapshots__/test_prompts/rain.json cannot be read (not "
            "UTF-8 text (byte 14)); rewrite it with: pytest --update-prompt-snapshots"
        ]
    )
    assert "UnicodeDecodeError" not in result.stdout.str()
    run(pytester, "-k", "named", "--update-prompt-snapshots").assert_outcomes(passed=1)
    assert path.read_bytes() == good
    # Line ends of a checkout with core.autocrlf, or a BOM, are the same snapshot.
    path.write_bytes(good.replace(b"\n", b"\r\n"))
    run(pytester, "-k", "named").assert_outcomes(passed=1)
    path.write_bytes(b"\xef\xbb\xbf" + good)
    run(pytester, "-k", "named").assert_outcomes(passed=1)
    path.unlink()
    path.mkdir()
    for args in ((), ("--update-prompt-snapshots",)):
        result = run(pytester, "-k", "named", *args)
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(
            ["*prompt snapshot *rain.json is a folder, not a file; remove it, then run: pytest*"]
        )
        assert "IsADirectoryError" not in result.stdout.str()


def test_a_name_that_is_not_a_string_says_so(tmp_path: Path) -> None:
    snapshots = PromptSnapshot(tmp_path, "test_x", update=True)
    with pytest.raises(TypeError, match=r"snapshot name 123: give a string, such as name="):
        snapshots.assert_match(scene("one"), name=123)  # type: ignore[arg-type]
