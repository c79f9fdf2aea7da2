"""The stage registry: `yousaid run`, the generated dvc.yaml and the tests all read STAGES.

Each stage runs on one question of a workspace. `deps`/`outs` name files of the question's
folder (keys of pipeline.workspace.LAYOUT) or, for `export`, the workspace's export files;
`params` are the top-level consultation.yaml keys whose change makes DVC rerun the stage (DVC
needs them present: `yousaid init` writes every one; `settings` is one key, since its sections
may be left out to take their defaults).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.stages import code, discover, embed, ingest, report, train
from pipeline.stages.base import Outcome
from pipeline.workspace import Question, Workspace


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[Workspace, Question], Outcome]
    deps: tuple[str, ...]
    outs: tuple[str, ...]
    params: tuple[str, ...]


STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest",
        ingest.run,
        ("export",),
        ("comments", "rejected"),
        ("source", "id_column", "weight_column", "respondent_columns", "questions", "settings"),
    ),
    Stage(
        "embed",
        embed.run,
        ("comments",),
        ("embeddings", "embeddings_meta"),
        ("settings",),
    ),
    Stage(
        "discover",
        discover.run,
        ("comments", "embeddings", "codebook"),
        ("discovery_xlsx", "discovery_html", "discovery_json"),
        ("settings",),
    ),
    Stage(
        "train",
        train.run,
        ("labelled", "codebook"),
        ("model_dir",),
        ("settings",),
    ),
    Stage(
        "code",
        code.run,
        ("comments", "embeddings", "model_dir"),
        ("coded", "coded_csv"),
        ("settings",),
    ),
    Stage(
        "report",
        report.run,
        ("coded", "embeddings", "codebook", "labelled", "responses", "quotes", "model_dir"),
        ("reports",),
        ("title", "display_names", "respondent_columns", "settings"),
    ),
)

BY_NAME = {s.name: s for s in STAGES}
