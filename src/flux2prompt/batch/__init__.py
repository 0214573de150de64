"""Batch generation: one template, many variables, every image generated once and only once.

Templates and sources of variables (re-exported from the core), job files, the runner with
its manifest, shards and merging, and the static gallery. See ``docs/batch.md``.

Example:
    >>> from flux2prompt import scene
    >>> from flux2prompt.batch import BatchJob, BatchRunner, matrix, template
    >>> @template
    ... def bottle(color: str, language: str):
    ...     tagline = {"en": "Stay bright", "ja": "いつも明るく"}[language]
    ...     return scene(f"a {color} steel water bottle").text(tagline, language=language)
    >>> job = BatchJob(name="bottles", template=bottle, output="{color}-{language}.{ext}",
    ...                source=matrix(color=["teal", "coral"], language=["en", "ja"]),
    ...                model="klein-4b", seeds={"derive": 2024})
    >>> BatchRunner(job, "out/bottles").dry_run().total
    4
"""

from __future__ import annotations

from flux2prompt._exports import publish as _publish
from flux2prompt._files import Dataset, dataset
from flux2prompt._templates import (
    Drawn,
    Matrix,
    Row,
    Sample,
    Seeds,
    Template,
    VariableSource,
    Variant,
    Zipped,
    canonical_variables,
    derive_seed,
    draw,
    draw_choice,
    expand,
    matrix,
    sample,
    template,
    zipped,
)
from flux2prompt.batch._emulated import EmulatorEndpoint, emulated
from flux2prompt.batch._gallery import write_gallery
from flux2prompt.batch._job import BatchJob, job_schema, load_job, parse_job
from flux2prompt.batch._limits import AdaptiveConcurrency, RateLimiter
from flux2prompt.batch._manifest import (
    MANIFEST_NAME,
    TIMING_FIELDS,
    ManifestWriter,
    MergeReport,
    comparable_records,
    effective_records,
    iter_manifest,
    manifests_equivalent,
    merge_manifests,
    read_manifest,
    record_key,
)
from flux2prompt.batch._naming import OutputPattern, sanitize_value
from flux2prompt.batch._plan import PlannedItem, plan_items
from flux2prompt.batch._progress import RichProgress
from flux2prompt.batch._runner import (
    BatchObserver,
    BatchReport,
    BatchRunner,
    DryRun,
    ItemOutcome,
    run_batch,
)
from flux2prompt.batch._shard import Shard

__all__ = [
    "MANIFEST_NAME",
    "TIMING_FIELDS",
    "AdaptiveConcurrency",
    "BatchJob",
    "BatchObserver",
    "BatchReport",
    "BatchRunner",
    "Dataset",
    "Drawn",
    "DryRun",
    "EmulatorEndpoint",
    "ItemOutcome",
    "ManifestWriter",
    "Matrix",
    "MergeReport",
    "OutputPattern",
    "PlannedItem",
    "RateLimiter",
    "RichProgress",
    "Row",
    "Sample",
    "Seeds",
    "Shard",
    "Template",
    "VariableSource",
    "Variant",
    "Zipped",
    "canonical_variables",
    "comparable_records",
    "dataset",
    "derive_seed",
    "draw",
    "draw_choice",
    "effective_records",
    "emulated",
    "expand",
    "iter_manifest",
    "job_schema",
    "load_job",
    "manifests_equivalent",
    "matrix",
    "merge_manifests",
    "parse_job",
    "plan_items",
    "read_manifest",
    "record_key",
    "run_batch",
    "sample",
    "sanitize_value",
    "template",
    "write_gallery",
    "zipped",
]

_publish(__name__, globals(), __all__)
