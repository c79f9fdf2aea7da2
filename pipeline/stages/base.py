"""What every stage shares: its result, and the inputs that must exist before it can run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.codebook import Codebook, load_codebook
from pipeline.errors import NotReady
from pipeline.workspace import Question, Workspace


@dataclass
class Outcome:
    """A stage's files and its one-line summary for the analyst (printed to stderr)."""

    outputs: dict[str, Path] = field(default_factory=dict)
    summary: str = ""


def command(name: str, ws: Workspace, q: Question) -> str:
    """The command line an analyst types for a stage of this question."""
    where = "" if ws.root == Path(".") else f" --workspace {ws.root}"
    return f"yousaid {name}{where} --question {q.id}"


def comments_table(ws: Workspace, q: Question, columns: list[str] | None = None) -> pd.DataFrame:
    path = ws.paths(q).comments
    if not path.exists():
        raise NotReady(f"{path}: no comments yet; run `{command('ingest', ws, q)}` first")
    return pd.read_parquet(path, columns=columns)


def codebook(ws: Workspace, q: Question) -> Codebook:
    path = ws.paths(q).codebook
    if not path.exists():
        raise NotReady(
            f"{path}: no codebook yet; run `{command('discover', ws, q)}` to write a starter one"
        )
    return load_codebook(path)
