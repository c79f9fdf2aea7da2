"""The stage registry: `yousaid run`, the generated dvc.yaml and the tests all read STAGES.

Each stage runs on one question of a workspace. `deps`/`outs` name files of the question's
folder (keys of pipeline.workspace.LAYOUT) or, for `export`, the workspace's export files;
`params` are the top-level consultation.yaml keys whose change makes DVC rerun the stage (DVC
needs them present: `yousaid init` writes every one; `settings` is one key, since its sections
may be left out to take their defaults).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.stages.base import Outcome
    from pipeline.workspace import Question, Workspace


@dataclass(frozen=True)
class Stage:
    name: str  # also its module, pipeline.stages.<name>, imported only when it runs
    deps: tuple[str, ...]
    outs: tuple[str, ...]
    params: tuple[str, ...]

    def run(self, ws: Workspace, q: Question) -> Outcome:
        return importlib.import_module(f"pipeline.stages.{self.name}").run(ws, q)


STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest",
        ("export",),
        ("comments", "rejected"),
        ("source", "id_column", "weight_column", "respondent_columns", "questions", "settings"),
    ),
    Stage(
        "embed",
        ("comments",),
        ("embeddings", "embeddings_meta"),
        ("settings",),
    ),
    Stage(
        "discover",
        ("comments", "embeddings", "codebook"),
        ("discovery_xlsx", "discovery_html", "discovery_json"),
        ("settings",),
    ),
    Stage(
        "train",
        ("labelled", "codebook"),
        ("model_dir",),
        ("settings",),
    ),
    Stage(
        "code",
        ("comments", "embeddings", "model_dir"),
        ("coded", "coded_csv", "coded_manifest"),
        ("settings",),
    ),
    Stage(
        "report",
        (
            "coded",
            "coded_manifest",
            "embeddings",
            "codebook",
            "labelled",
            "responses",
            "summaries",
            "quotes",
            "model_dir",
        ),
        ("reports",),
        ("title", "display_names", "respondent_columns", "settings"),
    ),
)

BY_NAME = {s.name: s for s in STAGES}
