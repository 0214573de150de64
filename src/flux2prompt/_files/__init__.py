"""Everything that reads prompts from disk: the files layer.

Above the pure core and below the transport. Here live the reading and parsing of ``.json``
and ``.toml`` files (:mod:`._parse`), prompt files and the one loading sequence
(:mod:`._prompt_file`), their schema migrations (:mod:`._migrate`), ``flux2prompt.load`` with
paths (:mod:`._load`), datasets of template variables (:mod:`._dataset`), importing a user's
Python file (:mod:`._pysource`), job files (:mod:`._job_file`) and the command line's SOURCE
(:mod:`._source`).

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "fox.prompt.toml"
    >>> _ = path.write_text('name = "fox"\\n[prompt]\\nscene = "a red fox"\\n')
    >>> load_prompt_file(path).prompt.scene
    'a red fox'
"""

from typing import TYPE_CHECKING

from flux2prompt._exports import lazy_exports
from flux2prompt._files._load import load
from flux2prompt._files._parse import (
    PROMPT_FILE_SUFFIXES,
    is_job_document,
    is_job_file,
    parse_document,
    parse_toml,
    read_bytes,
)
from flux2prompt._files._prompt_file import (
    PromptFile,
    in_file,
    load_prompt_file,
    parse_prompt,
    parse_prompt_file,
    prompt_file_from_document,
    prompt_file_schema,
    read_prompt,
    read_prompt_document,
)
from flux2prompt._files._references import ReferenceImages
from flux2prompt._files._source import LoadedSource, load_source, resolve_source

if TYPE_CHECKING:
    # Loaded on first use by __getattr__ below: job files and datasets are for `batch`, `lock`
    # and the job-file rows of `validate`; a command that reads one prompt never imports them.
    from flux2prompt._files._dataset import Dataset, dataset
    from flux2prompt._files._job_file import JobFile, parse_job_file, read_job_file

__all__ = [
    "PROMPT_FILE_SUFFIXES",
    "Dataset",
    "JobFile",
    "LoadedSource",
    "PromptFile",
    "ReferenceImages",
    "dataset",
    "in_file",
    "is_job_document",
    "is_job_file",
    "load",
    "load_prompt_file",
    "load_source",
    "parse_document",
    "parse_job_file",
    "parse_prompt",
    "parse_prompt_file",
    "parse_toml",
    "prompt_file_from_document",
    "prompt_file_schema",
    "read_bytes",
    "read_job_file",
    "read_prompt",
    "read_prompt_document",
    "resolve_source",
]


__getattr__, __dir__ = lazy_exports(
    __name__,
    globals(),
    dict.fromkeys(("Dataset", "dataset"), f"{__name__}._dataset")
    | dict.fromkeys(("JobFile", "parse_job_file", "read_job_file"), f"{__name__}._job_file"),
)
