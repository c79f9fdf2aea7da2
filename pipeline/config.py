"""Project parameters: params.yaml merged over defaults, so every stage reads the same settings."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import YousaidError

DEFAULTS: dict[str, Any] = {
    "seed": 42,
    "paths": {
        "input": "data/demo/comments.csv",
        "codebook": "labels/codebook.yaml",
        "comments": "data/interim/comments.parquet",
        "rejected": "data/interim/rejected.csv",
        "embeddings": "data/interim/embeddings.npy",
        "embedding_cache": ".cache/embeddings",
        "labelled": "labels/labelled.csv",
        "model_dir": "models/demo",
        "coded": "data/processed/coded.parquet",
    },
    "classifier": {"cv": 4, "min_positives": 3, "review_doubt": 0.3, "chunk_size": 5000},
    "label": {
        # Label Studio server; LABEL_STUDIO_URL overrides. The token is never a parameter: it comes
        # from LABEL_STUDIO_API_KEY / LABEL_STUDIO_USER_TOKEN or ~/.config/yousaid/label-studio.env
        "url": "http://127.0.0.1:8080",
        "project": None,  # project title; None = the codebook's name
        "batch": 50,  # comments per `yousaid label push`
        "sampling": "uncertainty",  # queue: uncertainty (lowest score first) or sequential
        "metadata": ["route", "age_band", "gender", "ethnicity", "borough", "inner_outer"],
        "annotations": "labels/annotations.jsonl",
        "agreement": "labels/agreement.csv",
        "disagreements": "labels/disagreements.csv",
    },
    "embedding": {"model": "all-MiniLM-L6-v2", "batch_size": 64, "shard_size": 2048, "fast": False},
    "discover": {"out_dir": "data/processed"},  # the rest: pipeline.discover.DiscoverSettings
    # the rest of `report` (group_by, min_base, n_quotes, ...): pipeline.report.DEFAULTS
    "report": {
        "out_dir": "reports",
        "responses": "labels/responses.yaml",
        "quotes": "labels/quotes.yaml",
    },
    "ingest": {
        # export column name -> contract name (id, text, weight, ...)
        "columns": {},
        "sheet": None,
        # "error": stop at the first bad row; "reject": set bad rows aside with a reason
        "on_bad_rows": "error",
        "extra_non_answers": [],
    },
}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


# pipeline.embed.FAST_MODEL, named here so that reading params does not import the embedding stack
FAST_EMBEDDING = "all-MiniLM-L6-v2-static"


def _apply_fast(params: dict[str, Any]) -> dict[str, Any]:
    """`embedding.fast: true` swaps in the static model (or the model it names) for every stage."""
    emb = params.get("embedding") or {}
    fast = emb.get("fast")
    if fast:
        emb["model"] = fast if isinstance(fast, str) else FAST_EMBEDDING
    return params


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Read params.yaml if present; a missing file means the defaults (useful outside the repo)."""
    path = Path(path)
    if not path.exists():
        return _apply_fast(copy.deepcopy(DEFAULTS))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise YousaidError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise YousaidError(f"{path}: expected a mapping at the top level")
    return _apply_fast(_merge(DEFAULTS, data))
