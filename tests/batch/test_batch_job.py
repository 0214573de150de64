"""Job files: the example, every variables source, templates, and errors with file and line."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from flux2prompt import PromptError, SourceError, scene
from flux2prompt.batch import (
    BatchJob,
    Dataset,
    Matrix,
    Sample,
    Seeds,
    Zipped,
    job_schema,
    load_job,
    matrix,
    plan_items,
    template,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = """\
from flux2prompt import scene
from flux2prompt.batch import template


@template
def mug(color: str, size: str = "small"):
    return scene(f"a {size} {color} mug")


def plain(color):
    return scene(f"a {color} vase")


static = scene("a lighthouse")
number = 3
"""


def write(folder: Path, text: str, name: str = "job.toml") -> Path:
    (folder / "shots.py").write_text(TEMPLATE, encoding="utf-8")
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


HEAD = 'template = "shots.py:mug"\noutput = "{color}.{ext}"\n'


def test_the_example_job_loads() -> None:
    job = load_job(ROOT / "examples/batch/job.toml")
    assert job.name == "aurora-bottle"
    assert job.template.variables == ("color", "language")
    assert isinstance(job.source, Matrix)
    assert job.source.count() == 8
    assert job.seeds == Seeds.derived(2024)
    assert dict(job.parameters) == {"width": 512, "height": 640}
    assert (job.model, job.concurrency, job.rate_limit) == ("klein-4b", 4, 720)


def test_the_example_job_satisfies_the_schema() -> None:
    import tomllib

    document = tomllib.loads((ROOT / "examples/batch/job.toml").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(job_schema()).validate(document)
    packaged = json.loads((ROOT / "schemas/batch-job.schema.json").read_text(encoding="utf-8"))
    assert packaged == job_schema()


def test_defaults(tmp_path: Path) -> None:
    job = load_job(write(tmp_path, HEAD + '[variables.matrix]\ncolor = ["red"]\n'))
    assert (job.name, job.model, job.concurrency, job.rate_limit, job.retries) == (
        "job",
        "flux-2-dev",
        8,
        720,
        5,
    )
    assert job.seeds == Seeds.none()


@pytest.mark.parametrize(
    ("variables", "kind", "count"),
    [
        ('[variables.matrix]\ncolor = ["red", "blue"]\nsize = ["s", "m", "l"]\n', Matrix, 6),
        ('[variables.zip]\ncolor = ["red", "blue"]\nsize = ["s", "m"]\n', Zipped, 2),
        ('[variables]\ndataset = "rows.csv"\n', Dataset, 2),
        ('[variables.dataset]\npath = "rows.txt"\nformat = "csv"\n', Dataset, 2),
        (
            '[variables.sample]\nn = 3\nseed = 1\naxes = { color = ["a", "b", "c", "d"] }\n',
            Sample,
            3,
        ),
        ('[variables.sample]\nn = 1\nseed = 1\ndataset = "rows.csv"\n', Sample, 1),
    ],
)
def test_every_source_of_variables(tmp_path: Path, variables: str, kind: type, count: int) -> None:
    for name in ("rows.csv", "rows.txt"):
        (tmp_path / name).write_text("color,size\nred,s\nblue,m\n", encoding="utf-8")
    job = load_job(write(tmp_path, HEAD + variables))
    assert isinstance(job.source, kind)
    assert job.source.count() == count


def test_seeds_forms(tmp_path: Path) -> None:
    for text, expected in (
        ("seeds = 7\n", Seeds.fixed(7)),
        ("seeds = [1, 2]\n", Seeds.each([1, 2])),
        ("seeds = { derive = 9 }\n", Seeds.derived(9)),
    ):
        job = load_job(write(tmp_path, text + HEAD + '[variables.zip]\ncolor = ["red"]\n'))
        assert job.seeds == expected


def test_python_templates_of_every_kind(tmp_path: Path) -> None:
    body = 'output = "{color}.{ext}"\n[variables.zip]\ncolor = ["red"]\n'
    plain = load_job(write(tmp_path, 'template = "shots.py:plain"\n' + body))
    assert plain.template.render(color="red").scene == "a red vase"
    static = load_job(write(tmp_path, 'template = "shots.py:static"\n' + body))
    assert static.template.render_mapping({"color": "x"}, ignore_extra=True).scene == "a lighthouse"
    with pytest.raises(SourceError, match="'number' is a int"):
        load_job(write(tmp_path, 'template = "shots.py:number"\n' + body))
    with pytest.raises(SourceError, match=r"no name 'mugg' in this file; did you mean 'mug'\?"):
        load_job(write(tmp_path, 'template = "shots.py:mugg"\n' + body))
    with pytest.raises(SourceError, match=r"shots.py:NAME"):
        load_job(write(tmp_path, 'template = "shots.py"\n' + body))


def test_a_template_file_that_fails_to_import_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("x = 1\nraise RuntimeError('boom')\n", encoding="utf-8")
    job = write(tmp_path, 'template = "broken.py:x"\noutput = "{a}"\n[variables.zip]\na = [1]\n')
    with pytest.raises(SourceError, match="RuntimeError: boom") as caught:
        load_job(job)
    assert caught.value.line == 2


def test_prompt_file_templates_bring_their_model_and_parameters(tmp_path: Path) -> None:
    (tmp_path / "mug.prompt.toml").write_text(
        'name = "mug"\nmodel = "klein-9b"\n[parameters]\nwidth = 640\nseed = 3\n'
        '[prompt]\nscene = "a ${color} mug"\ncolor_palette = ["${hex}"]\n',
        encoding="utf-8",
    )
    text = (
        'template = "mug.prompt.toml"\noutput = "{color}.{ext}"\n[parameters]\nheight = 512\n'
        '[variables.zip]\ncolor = ["red"]\nhex = ["#ff0000"]\n'
    )
    job = load_job(write(tmp_path, text))
    assert job.model == "klein-9b"
    assert dict(job.parameters) == {"width": 640, "height": 512}
    assert job.seeds == Seeds.fixed(3)  # the file's seed, as the job sets none
    assert job.template.render(color="red", hex="#f00").color_palette == ("#FF0000",)
    with pytest.raises(PromptError, match=r"missing variable 'hex' at \$\.prompt\.color_palette"):
        job.template.render(color="red")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (HEAD + "concurrency = \n", 3, "invalid TOML"),
        (HEAD + "concurency = 4\n[variables.zip]\ncolor = [1]\n", 3, "did you mean 'concurrency'"),
        (HEAD + "[variables.matrix]\ncolor = []\n", 4, r"\$\.variables\.matrix\.color"),
        (
            HEAD + "[parameters]\nwidth = 32\n[variables.zip]\ncolor = [1]\n",
            4,
            r"\$\.parameters\.width: must be at least 64, got 32$",
        ),
        (HEAD + "[parameters]\nwidth = 512\n", None, r"\$: missing required key 'variables'$"),
        (
            HEAD + '[variables.matrix]\ncolor = ["a"]\n[variables.zip]\ncolor = ["b"]\n',
            3,
            "exactly one source of variables",
        ),
        (HEAD + 'seeds = "7"\n[variables.zip]\ncolor = [1]\n', 3, "seeds must be an integer"),
        (HEAD + "[variables.zip]\nwhen = 1979-05-27\n", 4, "TOML dates"),
    ],
)
def test_job_file_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int | None, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SourceError, match=message) as caught:
        load_job(path)
    assert caught.value.source == str(path)
    assert caught.value.line == line


def test_semantic_errors_are_named(tmp_path: Path) -> None:
    text = 'template = "shots.py:mug"\noutput = "{colour}.{ext}"\n[variables.zip]\ncolor = ["a"]\n'
    with pytest.raises(SourceError, match=r"unknown field \{colour\}; did you mean \{color\}\?"):
        load_job(write(tmp_path, text))
    text = 'template = "shots.py:mug"\noutput = "{size}.{ext}"\n[variables.zip]\nsize = ["a"]\n'
    with pytest.raises(SourceError, match="needs 'color', which the variables do not give"):
        load_job(write(tmp_path, text))
    with pytest.raises(SourceError, match="no such job file"):
        load_job(tmp_path / "missing.toml")
    with pytest.raises(SourceError, match="no such template file"):
        load_job(write(tmp_path, HEAD.replace("shots.py", "nope.py") + "[variables.zip]\nc=[1]\n"))


def test_output_pattern_errors_name_the_pattern_the_job_file_and_its_line(
    tmp_path: Path,
) -> None:
    head = 'template = "shots.py:mug"\nname = "m"\n'
    tail = '\n[variables.zip]\ncolor = ["red"]\n'
    for output, message in (
        ("{colour}.{ext}", "unknown field {colour}; did you mean {color}?"),
        (
            "{index:zz}.{ext}",
            "{index:zz} does not fit 0: Unknown format code 'z' for object of type 'int'",
        ),
        ("{job:>{w}}", "field {job:>{w}}: nested fields are not allowed"),
        ("../{color}", "'..' would leave the output folder"),
    ):
        path = write(tmp_path, f"{head}output = {json.dumps(output)}{tail}")
        with pytest.raises(SourceError) as caught:
            load_job(path)
        assert str(caught.value) == f"{path}:3: output pattern {output!r}: {message}"
        assert (caught.value.source, caught.value.line) == (str(path), 3)
    # A spec that only a value can refuse is found while planning: still with file and line.
    path = write(tmp_path, f'{head}output = "{{color:03d}}.{{ext}}"{tail}')
    job = load_job(path)
    with pytest.raises(PromptError) as refused:
        list(plan_items(job))
    assert str(refused.value).startswith(
        f"{path}:3: output pattern '{{color:03d}}.{{ext}}': {{color:03d}} does not fit 'red'"
    )
    assert str(refused.value).endswith("(item 0, zipped item 0)")


def test_python_jobs_name_the_pattern_the_same_way() -> None:
    @template
    def mug(color: str):
        return scene(f"a {color} mug")

    with pytest.raises(PromptError) as caught:
        BatchJob(name="m", template=mug, source=matrix(color=["a"]), output="{colour}.{ext}")
    assert str(caught.value) == (
        "output pattern '{colour}.{ext}': unknown field {colour}; did you mean {color}?"
    )


def test_python_jobs_check_their_arguments() -> None:
    @template
    def mug(color: str):
        return scene(f"a {color} mug")

    base = {"name": "m", "template": mug, "source": matrix(color=["a"]), "output": "{color}"}
    assert BatchJob(**base).pattern.fields == ("color", "ext")
    with pytest.raises(PromptError, match="unknown parameter 'seed'"):
        BatchJob(**base, parameters={"seed": 1})
    with pytest.raises(PromptError, match="concurrency must be an integer >= 1"):
        BatchJob(**base, concurrency=0)


def test_job_schema_errors_use_the_common_wording(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        load_job(write(tmp_path, 'name = "x"\n'))
    assert str(caught.value).endswith(
        ": $: missing required keys 'template', 'variables', 'output'"
    )
    with pytest.raises(SourceError) as caught:
        load_job(write(tmp_path, HEAD + "concurrency = true\n[variables.zip]\ncolor = [1]\n"))
    assert str(caught.value).endswith(": $.concurrency: expected an integer, got boolean true")
    assert caught.value.line == 3


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("spring\ud800", "a lone surrogate"),
        ("x" * 201, "201 characters, more than the 200"),
        ("two\nlines", "control characters"),
    ],
)
def test_a_job_name_no_manifest_record_can_hold_is_refused_before_anything(
    name: str, words: str
) -> None:
    # The name is in every record: one that cannot be written would leave every image paid for
    # and unrecorded.
    with pytest.raises(PromptError, match=words):
        BatchJob(
            name=name, template=template(lambda sku: scene(sku)), source=matrix(sku=["a"]),
            output="{sku}.{ext}",
        )  # fmt: skip
