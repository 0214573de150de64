"""Job files with random axes ([variables.random]) and per-item reference images: what they
read as, and every mistake as one line naming the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from flux2prompt import PromptError, SourceError
from flux2prompt._files import ReferenceImages, read_job_file
from flux2prompt._files._variants import source_variants
from flux2prompt._templates import Drawn, draw_choice

PROMPT = 'name = "mug"\n[prompt]\nscene = "a ${color} mug seen from the ${angle}"\n'


def job(folder: Path, body: str, *, images: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mug.prompt.toml").write_text(PROMPT, encoding="utf-8")
    path = folder / "job.toml"
    head = f'template = "mug.prompt.toml"\noutput = "{{color}}.{{ext}}"\n{images}'
    path.write_text(head + body, encoding="utf-8")
    return path


def test_random_axes_beside_a_matrix(tmp_path: Path) -> None:
    read = read_job_file(
        job(
            tmp_path,
            '[variables.matrix]\ncolor = ["teal", "rust"]\n'
            '[variables.random]\nseed = 5\nangle = ["front", "top", "back"]\n',
        )
    )
    assert isinstance(read.source, Drawn)
    assert read.source.names == ("color", "angle")
    rows = list(read.source)
    assert [row["color"] for row in rows] == ["teal", "rust"]
    for row in rows:
        expected = draw_choice(5, "angle", {"color": row["color"]}, ["front", "top", "back"])
        assert row["angle"] == expected


def test_the_random_seed_defaults_to_0(tmp_path: Path) -> None:
    body = '[variables.zip]\ncolor = ["teal"]\n[variables.random]\nangle = ["front", "top"]\n'
    source = read_job_file(job(tmp_path, body)).source
    assert isinstance(source, Drawn)
    assert source.seed == 0


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ('[variables.random]\nangle = ["front"]\n', 3, "give exactly one source of variables"),
        (
            '[variables.matrix]\ncolor = ["a"]\n[variables.zip]\nangle = ["b"]\n',
            3,
            "give exactly one source of variables",
        ),
        (
            '[variables.matrix]\ncolor = ["a"]\n[variables.random]\nseed = -1\nangle = ["b"]\n',
            6,
            "$.variables.random.seed",
        ),
        ('[variables.matrix]\ncolor = ["a"]\n[variables.random]\nangle = []\n', 6, "at least 1"),
        (
            '[variables.matrix]\ncolor = ["a"]\n[variables.random]\nangle = "front"\n',
            6,
            "$.variables.random.angle",
        ),
    ],
)
def test_mistakes_in_random_axes_name_the_line(
    tmp_path: Path, body: str, line: int, message: str
) -> None:
    path = job(tmp_path, body)
    with pytest.raises(SourceError) as caught:
        read_job_file(path)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert message in str(caught.value)


def test_an_axis_both_combinatorial_and_random_is_refused(tmp_path: Path) -> None:
    body = '[variables.matrix]\ncolor = ["a"]\nangle = ["x"]\n[variables.random]\nangle = ["y"]\n'
    with pytest.raises(SourceError, match="'angle' is both a variable of the base"):
        read_job_file(job(tmp_path, body))


def test_images_are_patterns_joined_to_the_job_folder_even_one_with_braces(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "a{b}"
    path = job(
        folder,
        '[variables.matrix]\ncolor = ["teal"]\nangle = ["top"]\n',
        images='images = ["refs/{color}.png", "logo.png"]\n',
    )
    (folder / "refs").mkdir()
    (folder / "refs" / "teal.png").write_bytes(b"teal")
    (folder / "logo.png").write_bytes(b"logo")
    references = read_job_file(path).references
    assert references.per_item
    assert references.labels({"color": "teal"}) == (
        f"{folder}/refs/teal.png",
        f"{folder}/logo.png",
    )
    assert references.read({"color": "teal"}) == [b"teal", b"logo"]


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ('images = ["refs/{colour}.png"]\n', "unknown field {colour}"),
        ('images = ["refs/{color:>9}.png"]\n', "is not a variable name"),
        ('images = ["refs/{color.png"]\n', "write {{ and }} for literal braces"),
    ],
)
def test_bad_image_patterns_name_the_images_line(tmp_path: Path, images: str, message: str) -> None:
    path = job(tmp_path, '[variables.matrix]\ncolor = ["teal"]\nangle = ["top"]\n', images=images)
    with pytest.raises(SourceError) as caught:
        read_job_file(path)
    assert str(caught.value).startswith(f"{path}:3: ")
    assert message in str(caught.value)


def test_a_static_image_that_is_missing_is_a_job_error_and_a_per_item_one_names_the_row(
    tmp_path: Path,
) -> None:
    with pytest.raises(SourceError, match="cannot read the reference image: no such file"):
        ReferenceImages([str(tmp_path / "logo.png")]).read({})
    refs = ReferenceImages([f"{tmp_path}/{{sku}}.png"])
    with pytest.raises(PromptError, match=r"^rows\.csv:7: reference image .*/Q\.png"):
        refs.read({"sku": "Q"}, origin="rows.csv:7")
    with pytest.raises(PromptError, match="the item has no variable 'sku'"):
        refs.read({"color": "teal"})


def test_validate_reports_the_rows_whose_reference_is_missing(tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("color,angle\nteal,top\nrust,top\n", encoding="utf-8")
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "teal.png").write_bytes(b"teal")
    path = job(
        tmp_path, '[variables]\ndataset = "rows.csv"\n', images='images = ["refs/{color}.png"]\n'
    )
    variants = list(source_variants(str(path)))
    assert [v.ok for v in variants] == [True, False]
    assert variants[1].label.endswith("rows.csv:3]")
    assert "refs/rust.png" in str(variants[1].error)


def test_random_axes_beside_a_dataset_and_a_sample(tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("color\nteal\nrust\nsand\n", encoding="utf-8")
    beside_dataset = read_job_file(
        job(tmp_path, '[variables]\ndataset = "rows.csv"\n[variables.random]\nangle = ["a", "b"]\n')
    ).source
    rows = list(beside_dataset.rows())
    assert [row.origin.rsplit("/", 1)[-1] for row in rows] == [
        "rows.csv:2",
        "rows.csv:3",
        "rows.csv:4",
    ]
    assert all(row.variables["angle"] in ("a", "b") for row in rows)
    beside_sample = read_job_file(
        job(
            tmp_path / "s",
            '[variables.sample]\nn = 2\nseed = 1\naxes = { color = ["teal", "rust", "sand"] }\n'
            '[variables.random]\nseed = 4\nangle = ["a", "b"]\n',
        )
    ).source
    drawn = list(beside_sample)
    assert len(drawn) == 2
    for row in drawn:
        assert row["angle"] == draw_choice(4, "angle", {"color": row["color"]}, ["a", "b"])
