"""Code one question's comments with its trained model (or any model directory on any table)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline import modeldir
from pipeline.coding import code
from pipeline.embed import embed_texts
from pipeline.ingest import ingest
from pipeline.manifest import file_set
from pipeline.stages.base import Outcome, codebook, comments_table
from pipeline.stages.embed import vectors_for
from pipeline.tables import write_table
from pipeline.workspace import Question, Workspace


def summary(coded: pd.DataFrame, model: modeldir.TrainedModel) -> str:
    sub = coded[coded["substantive"].astype(bool)] if "substantive" in coded else coded
    line = (
        f"coded {len(coded)} comments ({len(sub)} substantive): "
        f"{int((sub['labels'] != '').sum())} with a theme, "
        f"{int(coded['needs_review'].sum())} flagged for review"
    )
    if model.meta["untrained_themes"]:
        line += f"; not coded (too few labels): {', '.join(model.meta['untrained_themes'])}"
    return line


def run(ws: Workspace, q: Question) -> Outcome:
    paths, s = ws.paths(q), ws.settings.classifier
    model = modeldir.load(paths.model_dir, codebook(ws, q))
    frame = comments_table(ws, q)
    vectors = vectors_for(
        ws,
        q,
        frame["text"].tolist(),
        frame["id"].astype(str).tolist(),
        model.meta["embedding_model"],
    )
    coded = code(frame, model, vectors, review_doubt=s.review_doubt, chunk_size=s.chunk_size)
    # One set: a kill between the two writes leaves the manifest "incomplete", and readers
    # (report, label push) refuse the mix instead of silently using two models' outputs.
    tables = [paths.coded, paths.coded_csv]
    with file_set(
        paths.coded_manifest,
        "code",
        tables,
        model_version=model.version,
    ):
        for path in tables:
            write_table(coded, path)
    return Outcome(
        {
            "coded": paths.coded,
            "coded_csv": paths.coded_csv,
            "coded_manifest": paths.coded_manifest,
        },
        summary(coded, model),
    )


def read_any(path: Path) -> pd.DataFrame:
    """An ingested comments table as is, or any export with `id` and `text` through ingest."""
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        if "substantive" in frame.columns:
            return frame
    return ingest([path]).comments


def code_file(
    model_dir: Path, comments: Path, out: Path, review_doubt: float = 0.3
) -> tuple[Path, str]:
    """Code a table with a model directory alone: it carries its own codebook, no workspace needed."""
    model = modeldir.load(model_dir)
    frame = read_any(comments)
    vectors, _ = embed_texts(frame["text"].tolist(), model.meta["embedding_model"])
    coded = code(frame, model, vectors, review_doubt=review_doubt)
    write_table(coded, out)
    return out, summary(coded, model)
