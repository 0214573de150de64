"""Prompt files: TOML and JSON, metadata, errors with file and line or key path, templates,
migration."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from flux2prompt import PromptError, PromptValidationError, SourceError, load
from flux2prompt._files import (
    PromptFile,
    in_file,
    load_prompt_file,
    parse_document,
    parse_prompt_file,
    prompt_file_from_document,
    prompt_file_schema,
    read_prompt_document,
)
from flux2prompt._files._migrate import migrate_prompt_file
from flux2prompt._placeholders import placeholders, substitute
from flux2prompt._schema import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]

HERO_TOML = """\
schema_version = 1
name = "mug-hero"
description = "Hero shot of the matte black mug"
version = "2.1"
model = "flux-2-dev"
tags = ["product", "mug"]

[parameters]
width = 1024
height = 768
steps = 28
guidance = 3.5
seed = 42

[prompt]
scene = "a minimalist product shot on seamless paper"
color_palette = ["#1a1a1a", "#F2EFE9"]
mood = "calm"

[[prompt.subjects]]
type = "product"
description = "matte black ceramic mug"
position = "foreground"

[prompt.camera]
angle = "eye level"
"lens-mm" = 85
"f-number" = "f/4"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- reading both shapes ------------------------------------------------------------------------


def test_toml_prompt_file_loads_metadata_and_prompt(tmp_path: Path) -> None:
    path = write(tmp_path / "hero.prompt.toml", HERO_TOML)
    loaded = load_prompt_file(path)
    assert isinstance(loaded, PromptFile)
    assert loaded.name == "mug-hero"
    assert loaded.description == "Hero shot of the matte black mug"
    assert loaded.version == "2.1"
    assert loaded.model == "flux-2-dev"
    assert dict(loaded.parameters) == {
        "width": 1024,
        "height": 768,
        "steps": 28,
        "guidance": 3.5,
        "seed": 42,
    }
    assert loaded.tags == ("product", "mug")
    assert loaded.path == path
    assert loaded.schema_version == SCHEMA_VERSION
    assert not loaded.is_template
    assert loaded.prompt.color_palette == ("#1A1A1A", "#F2EFE9")
    assert loaded.prompt.camera is not None
    assert loaded.prompt.camera.lens_mm == 85
    assert loaded.document["color_palette"] == ["#1a1a1a", "#F2EFE9"]  # as written


def test_prompt_file_is_frozen_and_document_is_a_copy(tmp_path: Path) -> None:
    loaded = load_prompt_file(write(tmp_path / "hero.prompt.toml", HERO_TOML))
    with pytest.raises(AttributeError):
        loaded.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        loaded.parameters["seed"] = 1  # type: ignore[index]
    loaded.document["mood"] = "tense"
    assert loaded.document["mood"] == "calm"


def test_json_prompt_file_with_schema_key_loads(tmp_path: Path) -> None:
    document = {
        "$schema": "urn:flux2prompt:schema:prompt-file:1",
        "name": "harbour",
        "tags": ["travel"],
        "prompt": {"scene": "a quiet harbour at dawn", "mood": "calm"},
    }
    path = write(tmp_path / "harbour.prompt.json", json.dumps(document))
    loaded = load_prompt_file(path)
    assert loaded.name == "harbour"
    assert loaded.model is None
    assert dict(loaded.parameters) == {}
    assert loaded.metadata() == {"name": "harbour", "tags": ["travel"]}
    assert loaded.prompt.to_json() == '{"scene":"a quiet harbour at dawn","mood":"calm"}'


def test_load_path_reads_both_shapes(tmp_path: Path) -> None:
    plain = write(tmp_path / "plain.json", '{"scene": "fog", "mood": "quiet $5"}')
    assert load(plain).to_json() == '{"scene":"fog","mood":"quiet $5"}'
    assert read_prompt_document(plain) == {"scene": "fog", "mood": "quiet $5"}
    toml = write(tmp_path / "hero.prompt.toml", HERO_TOML)
    assert load(toml) == load_prompt_file(toml).prompt
    wrapped = write(tmp_path / "w.json", '{"name": "w", "prompt": {"scene": "fog"}}')
    assert read_prompt_document(wrapped) == {"scene": "fog"}
    assert load(wrapped).to_json() == '{"scene":"fog"}'


def test_plain_document_is_not_a_prompt_file(tmp_path: Path) -> None:
    plain = write(tmp_path / "plain.json", '{"scene": "fog"}')
    with pytest.raises(SourceError, match="plain prompt document, not a prompt file"):
        load_prompt_file(plain)


def test_parse_prompt_file_from_text() -> None:
    loaded = parse_prompt_file(
        'name = "kite"\n[prompt]\nscene = "a kite"\n', suffix=".toml", source="HEAD:kite.toml"
    )
    assert (loaded.name, loaded.path, loaded.source) == ("kite", None, "HEAD:kite.toml")


# -- errors: file and line, file and key path -----------------------------------------------------


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.prompt.toml", 'name = "x"\n\n[prompt\nscene = "a"\n')
    with pytest.raises(SourceError) as caught:
        load_prompt_file(path)
    assert caught.value.line == 3
    assert caught.value.source == str(path)
    assert str(caught.value).startswith(f"{path}:3: invalid TOML at column 8: Expected ']'")
    with pytest.raises(SourceError) as again:
        load(path)
    assert again.value.line == 3


def test_toml_error_at_end_of_file_points_at_last_line(tmp_path: Path) -> None:
    path = write(tmp_path / "cut.prompt.toml", 'name = "x"\n[prompt]\nscene = ')
    with pytest.raises(SourceError, match="at the end of the file") as caught:
        load_prompt_file(path)
    assert caught.value.line == 3


def test_toml_date_is_refused_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path / "d.prompt.toml", 'name = "x"\n[prompt]\nscene = 2024-05-01\n')
    with pytest.raises(SourceError, match=r"\$\.prompt\.scene: TOML dates and times"):
        load_prompt_file(path)


def test_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin.prompt.toml"
    path.write_bytes('name = "x"\n[prompt]\nscene = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(SourceError, match="not UTF-8"):
        load_prompt_file(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[prompt]\nscene = "a"\n', r"\$: missing required key 'name'"),
        ('name = "Mug Hero"\n[prompt]\nscene = "a"\n', r"\$\.name: \"Mug Hero\" is not a slug"),
        ('name = "x"\nversion = 2\n[prompt]\nscene = "a"\n', r"\$\.version: expected a string"),
        (
            'name = "x"\n[parameters]\nwidth = "wide"\n[prompt]\nscene = "a"\n',
            r"\$\.parameters\.width: expected an integer, got string \"wide\"",
        ),
        (
            'name = "x"\n[parameters]\nsteps = 0\n[prompt]\nscene = "a"\n',
            r"\$\.parameters\.steps: must be at least 1",
        ),
        (
            'name = "x"\n[parameters]\nsampler = "euler"\n[prompt]\nscene = "a"\n',
            r"\$\.parameters\.sampler: unknown key 'sampler'",
        ),
        ('name = "x"\nauthor = "me"\n[prompt]\nscene = "a"\n', r"\$\.author: unknown key"),
        ('name = "x"\ntags = ["a", "a"]\n[prompt]\nscene = "a"\n', r"\$\.tags: has duplicate"),
        ('name = "x"\nprompt = "a fox"\n', r"\$\.prompt: expected an object"),
        ('name = "x"\nscene = "a"\n', r"move 'scene' under a \[prompt\] table"),
    ],
)
def test_metadata_errors_name_file_and_key_path(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "m.prompt.toml", text)
    with pytest.raises(SourceError, match=message) as caught:
        load_prompt_file(path)
    assert caught.value.source == str(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_json_metadata_without_prompt_is_explained(tmp_path: Path) -> None:
    path = write(tmp_path / "m.json", '{"name": "x", "scene": "fog"}')
    with pytest.raises(SourceError, match="metadata \\('name'\\) but no 'prompt' key"):
        load(path)


def test_invalid_prompt_in_a_file_reports_paths_inside_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "p.prompt.toml", 'name = "x"\n[prompt]\nscene = 1\nlightning = "a"\n')
    with pytest.raises(PromptValidationError) as caught:
        load_prompt_file(path)
    paths = [issue.path for issue in caught.value.issues]
    assert "$.prompt.scene" in paths
    assert "$.prompt.lightning" in paths
    assert str(caught.value).startswith(f"{path}: prompt is invalid")


def test_unsupported_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"unsupported file type '\.yaml'"):
        load_prompt_file(write(tmp_path / "p.yaml", "name: x"))
    with pytest.raises(SourceError, match="no such file"):
        load_prompt_file(tmp_path / "missing.prompt.toml")


# -- templates ----------------------------------------------------------------------------------


def test_placeholders_and_substitute() -> None:
    document = {
        "scene": "a ${color} mug on $surface, $$12",
        "subjects": [{"description": "${color} glaze"}],
        "camera": {"lens-mm": 85},
    }
    assert placeholders(document) == {"color", "surface"}
    result = substitute(document, {"color": "red", "surface": "oak", "unused": "x"})
    assert result == {
        "scene": "a red mug on oak, $12",
        "subjects": [{"description": "red glaze"}],
        "camera": {"lens-mm": 85},
    }
    assert document["scene"] == "a ${color} mug on $surface, $$12"  # not changed
    assert substitute({"scene": "${n} mugs"}, {"n": 3}) == {"scene": "3 mugs"}


def test_missing_variable_names_the_variable_and_the_path() -> None:
    with pytest.raises(PromptError) as caught:
        substitute({"subjects": [{"pose": "a"}, {"pose": "${pose}"}]}, {})
    assert (
        str(caught.value)
        == "missing variable 'pose' at $.subjects[1].pose (the template needs: pose)"
    )


def test_invalid_placeholder_and_bad_variable_value() -> None:
    with pytest.raises(
        PromptError, match=r"invalid placeholder at \$\.scene .*\$\$ for a literal \$"
    ):
        substitute({"scene": "costs $5"}, {})
    with pytest.raises(
        PromptError, match=r"variable 'x' .* must be text or a number, got NoneType"
    ):
        substitute({"scene": "${x}"}, {"x": None})
    with pytest.raises(PromptError, match="got bool"):
        substitute({"scene": "${x}"}, {"x": True})


def test_template_prompt_file_is_validated_after_substitution(tmp_path: Path) -> None:
    text = 'name = "poster"\n[prompt]\nscene = "a ${city} poster"\ncolor_palette = ["${ink}"]\n'
    path = write(tmp_path / "poster.prompt.toml", text)
    template = load_prompt_file(path)
    assert template.is_template
    assert template.placeholders == frozenset({"city", "ink"})
    assert template.document == {"scene": "a ${city} poster", "color_palette": ["${ink}"]}
    with pytest.raises(PromptError, match=r"template with placeholders \$\{city\}, \$\{ink\}"):
        _ = template.prompt
    rendered = template.render({"city": "Lisbon", "ink": "#fff"})
    assert rendered.to_json() == '{"scene":"a Lisbon poster","color_palette":["#FFFFFF"]}'
    assert load_prompt_file(path, {"city": "Porto", "ink": "#000"}).prompt.scene == "a Porto poster"
    # Invalid only after substitution: the error names the file and the path inside it.
    with pytest.raises(PromptValidationError) as caught:
        template.render({"city": "Lisbon", "ink": "#12"})
    assert [issue.path for issue in caught.value.issues] == ["$.prompt.color_palette[0]"]
    with pytest.raises(PromptError, match=rf"^{path}: missing variable 'ink' at \$\.prompt\."):
        template.render({"city": "Lisbon"})


def test_loading_a_template_without_variables_says_so(tmp_path: Path) -> None:
    path = write(tmp_path / "t.prompt.json", '{"name": "t", "prompt": {"scene": "${where}"}}')
    with pytest.raises(PromptError, match=r"template with placeholders \$\{where\}"):
        load(path)
    with pytest.raises(PromptError, match="template"):
        read_prompt_document(path)


def test_dollar_escape_in_a_prompt_file(tmp_path: Path) -> None:
    path = write(tmp_path / "p.prompt.toml", 'name = "p"\n[prompt]\nscene = "a $$5 coffee"\n')
    assert load_prompt_file(path).prompt.scene == "a $5 coffee"
    assert load(path).scene == "a $5 coffee"
    bad = write(tmp_path / "b.prompt.toml", 'name = "b"\n[prompt]\nscene = "a $5 coffee"\n')
    with pytest.raises(PromptError, match=rf"{bad}: invalid placeholder at \$\.prompt\.scene"):
        load_prompt_file(bad)


# -- migration ----------------------------------------------------------------------------------

LEGACY = """\
schema_version = 0
name = "legacy"

[prompt]
scene = "a portrait in a studio"
palette = ["#000000", "#ffffff"]

[[prompt.subjects]]
description = "a cellist"
palette = ["walnut brown"]

[prompt.camera]
lens_mm = 85
f_number = "f/2"
iso = 200
"""


def test_version_0_file_is_migrated(tmp_path: Path) -> None:
    loaded = load_prompt_file(write(tmp_path / "legacy.prompt.toml", LEGACY))
    assert loaded.schema_version == 0
    assert loaded.document == {
        "scene": "a portrait in a studio",
        "color_palette": ["#000000", "#ffffff"],
        "subjects": [{"description": "a cellist", "color_palette": ["walnut brown"]}],
        "camera": {"lens-mm": 85, "f-number": "f/2", "ISO": 200},
    }
    camera = loaded.prompt.camera
    assert camera is not None
    assert (camera.lens_mm, camera.f_number, camera.iso) == (85, "f/2", 200)
    assert load(tmp_path / "legacy.prompt.toml") == loaded.prompt


def test_migration_keeps_the_input_and_key_order() -> None:
    document = {"schema_version": 0, "name": "x", "prompt": {"palette": ["#fff"], "scene": "s"}}
    migrated = migrate_prompt_file(document)
    assert list(migrated["prompt"]) == ["color_palette", "scene"]
    assert migrated["schema_version"] == SCHEMA_VERSION
    assert document["prompt"] == {"palette": ["#fff"], "scene": "s"}


def test_migration_refuses_both_spellings(tmp_path: Path) -> None:
    text = 'schema_version = 0\nname = "x"\n[prompt.camera]\niso = 100\nISO = 200\n'
    with pytest.raises(SourceError, match=r"\$\.prompt\.camera: both 'iso' .* and 'ISO'"):
        load_prompt_file(write(tmp_path / "x.prompt.toml", text))


def test_future_schema_version_asks_for_an_upgrade(tmp_path: Path) -> None:
    path = write(tmp_path / "new.prompt.toml", 'schema_version = 7\nname = "x"\n[prompt]\n')
    with pytest.raises(SourceError) as caught:
        load_prompt_file(path)
    message = str(caught.value)
    assert "schema version 7" in message
    assert "pip install --upgrade flux2-prompt" in message
    with pytest.raises(SourceError, match="upgrade flux2prompt"):
        load(path)


@pytest.mark.parametrize(("value", "message"), [('"1"', "expected an integer"), ("-1", "not a")])
def test_bad_schema_version(tmp_path: Path, value: str, message: str) -> None:
    text = f'schema_version = {value}\nname = "x"\n[prompt]\nscene = "a"\n'
    with pytest.raises(SourceError, match=message):
        load_prompt_file(write(tmp_path / "x.prompt.toml", text))


# -- the schema and the examples ----------------------------------------------------------------


def test_prompt_file_schema_is_a_documented_draft_2020_12_schema() -> None:
    schema = prompt_file_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "urn:flux2prompt:schema:prompt-file:1"
    assert schema["title"]
    assert schema["x-schema-version"] == SCHEMA_VERSION
    jsonschema.Draft202012Validator.check_schema(schema)
    for name, spec in schema["properties"].items():
        assert spec.get("description"), name
    on_disk = json.loads((ROOT / "schemas" / "prompt-file.schema.json").read_text("utf-8"))
    assert on_disk == schema


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "prompts").glob("*.prompt.*")))
def test_example_prompt_files_load(path: Path) -> None:
    loaded = load_prompt_file(path)
    if loaded.is_template:
        variables = {name: "en" if name == "language" else "Lisbon" for name in loaded.placeholders}
        assert loaded.render(variables).fingerprint.startswith("sha256:")
    else:
        assert loaded.prompt == load(path)


def test_metadata_errors_use_the_common_wording(tmp_path: Path) -> None:
    path = write(tmp_path / "x.prompt.toml", 'name = "x"\ntgas = ["a"]\n[prompt]\nscene = "a"\n')
    with pytest.raises(SourceError) as caught:
        load_prompt_file(path)
    assert str(caught.value) == f"{path}: $.tgas: unknown key 'tgas'; did you mean 'tags'?"
    path = write(tmp_path / "y.prompt.toml", "name = 1\n[prompt]\nscene = 'a'\n")
    with pytest.raises(SourceError, match=r": \$\.name: expected a string, got integer 1$"):
        load_prompt_file(path)


def test_parse_document_tells_the_two_shapes_apart() -> None:
    assert parse_document('{"scene": "a"}', suffix=".json", source="a.json") == (
        {"scene": "a"},
        False,
    )
    document, is_file = parse_document(
        'name = "a"\n[prompt]\nscene = "a"\n', suffix=".toml", source="a"
    )
    assert is_file
    assert prompt_file_from_document(document, source="a").prompt.scene == "a"
    with pytest.raises(SourceError, match=r"^a\.yaml: unsupported file type"):
        parse_document("", suffix=".yaml", source="a.yaml")


def test_in_file_names_the_file_and_rebases_the_paths() -> None:
    with pytest.raises(PromptValidationError) as caught:
        load({"scene": 1})
    rebased = in_file(caught.value, "a.prompt.toml")
    assert isinstance(rebased, PromptValidationError)
    assert rebased.source == "a.prompt.toml"
    assert [str(issue) for issue in rebased.issues] == [
        "$.prompt.scene: expected a string, got integer 1"
    ]
    assert str(rebased).startswith("a.prompt.toml: prompt is invalid")
    assert in_file(caught.value, "a.json", base="$").issues == caught.value.issues


def test_every_reader_goes_through_the_one_loading_sequence(tmp_path: Path) -> None:
    # load(Path), load_prompt_file, load_source (the CLI's SOURCE) and diff_sources read a file
    # the same way: the same prompt from a good file, the same error from a broken one.
    from flux2prompt import diff_sources, load_source

    good = write(
        tmp_path / "hero.prompt.toml",
        'name = "hero"\nmodel = "klein-4b"\n[prompt]\nscene = "a $$5 kite"\n'
        'color_palette = ["#abc"]\n',
    )
    expected = load_prompt_file(good).prompt
    assert load(good) == expected
    assert load_source(str(good)).prompt == expected
    assert load_source(str(good)).model == "klein-4b"
    assert diff_sources(good, good).entries == ()
    broken = write(tmp_path / "broken.prompt.toml", 'name = "b"\n[prompt]\nscene = 3\n')
    messages = set()
    for read in (
        load,
        load_prompt_file,
        lambda p: load_source(str(p)),
        lambda p: diff_sources(p, good),
    ):
        with pytest.raises(PromptError) as caught:
            read(broken)
        messages.add(str(caught.value))
    assert len(messages) == 1
    (message,) = messages
    assert message.startswith(f"{broken}: prompt is invalid")
    assert "$.prompt.scene" in message


@pytest.mark.parametrize(
    ("name", "text", "lines"),
    [
        ("m.prompt.toml", 'name = "x"\n\n[parameters]\nwidth = 0\n[prompt]\nscene = "a"\n', [4]),
        (
            "m.prompt.json",
            '{\n  "name": "x",\n  "tags": [1],\n  "version": 2,\n  "prompt": {"scene": "a"}\n}',
            [3, 4],
        ),
    ],
)
def test_metadata_problems_name_their_lines(
    tmp_path: Path, name: str, text: str, lines: list[int]
) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(SourceError) as caught:
        load_prompt_file(path)
    assert sorted(problem.line or 0 for problem in caught.value.problems) == lines
    assert all(problem.source == str(path) for problem in caught.value.problems)
    assert str(caught.value).startswith(f"{path}: $.")  # the message names every path, as before


def test_a_problem_in_the_second_subject_is_placed_on_its_line(tmp_path: Path) -> None:
    # List indices were skipped when finding a line: every subject's problem went to the first.
    from flux2prompt._files._prompt_file import document_line

    toml = (
        'name = "t"\n[prompt]\nscene = "s"\n\n[[prompt.subjects]]\ndescription = "a"\n\n'
        "[[prompt.subjects]]\ndescription = 5\n[prompt.subjects.extra]\nx = 1\n"
    )
    assert document_line(toml, ".toml", "$.prompt.subjects[1].description") == 9
    assert document_line(toml, ".toml", "$.prompt.subjects[0].description") == 6
    assert document_line(toml, ".toml", "$.prompt.subjects[1].extra.x") == 11
    json_text = (
        '{"name": "t", "prompt": {"scene": "s", "subjects": [\n  {"pose": "a", "type": "x"},\n'
        '  {"type": "y",\n   "pose": 5}\n]}}'
    )
    assert document_line(json_text, ".json", "$.prompt.subjects[1].pose") == 4
    assert document_line(json_text, ".json", "$.prompt.subjects[0].pose") == 2
    assert document_line(json_text, ".json", "$.prompt.subjects[1]") == 3
    assert document_line('{"camera": {"f-number": 2}}', ".json", "$.camera['f-number']") == 1
    path = write(tmp_path / "t.prompt.toml", toml.replace("[prompt.subjects.extra]\nx = 1\n", ""))
    with pytest.raises(PromptValidationError) as caught:
        load_prompt_file(path)
    (issue,) = caught.value.issues
    assert document_line(path.read_text(), ".toml", issue.path) == 9


def test_a_placeholder_in_a_key_says_keys_are_never_filled_in(tmp_path: Path) -> None:
    path = write(
        tmp_path / "k.prompt.json", '{"name": "k", "prompt": {"scene": "s", "${part}": "v"}}'
    )
    with pytest.raises(PromptValidationError) as caught:
        load_prompt_file(path, {"part": "mood"})
    (issue,) = caught.value.issues
    assert issue.path == "$.prompt['${part}']"
    assert issue.message.endswith("; ${name} placeholders are filled in values only, never in keys")
