"""Embed one question's comments, through the workspace's per-text cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.embed import embed_texts, read_embeddings, write_embeddings
from pipeline.errors import YousaidError
from pipeline.stages.base import Outcome, comments_table
from pipeline.workspace import Question, Workspace


def run(ws: Workspace, q: Question) -> Outcome:
    s = ws.settings.embedding
    comments = comments_table(ws, q, ["id", "text"])
    vectors, stats = embed_texts(
        comments["text"].tolist(),
        s.model_name,
        cache_dir=ws.cache_dir,
        batch_size=s.batch_size,
        shard_size=s.shard_size,
    )
    out = write_embeddings(vectors, comments["id"].tolist(), s.model_name, ws.paths(q).embeddings)
    return Outcome(
        {"embeddings": out},
        f"embedded {stats['texts']} comments with {s.model_name}: "
        f"{stats['unique_to_embed']} computed, {stats['cached']} from cache",
    )


def stage_vectors(path: Path, ids: list[str], model_name: str) -> np.ndarray | None:
    """The embed stage's memory-mapped vectors when they match these ids and model, else None.

    Why: at 100k comments re-reading the per-text cache builds a second full copy of every vector;
    the .npy is already row-aligned, so a stage reads only the rows it needs from disk.
    """
    try:
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        if meta.get("model") != model_name:
            return None
        return read_embeddings(path, ids)
    except (OSError, ValueError, YousaidError):
        return None


def vectors_for(ws: Workspace, q: Question, texts: list[str], ids: list[str], model_name: str):
    """Row-aligned vectors for these comments: the stage's file if it fits, else the cache."""
    vectors = stage_vectors(ws.paths(q).embeddings, ids, model_name)
    if vectors is None:
        vectors, _ = embed_texts(texts, model_name, cache_dir=ws.cache_dir, progress=False)
    return vectors
