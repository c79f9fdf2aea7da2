"""Shared fixtures: one real pipeline run on the demo consultation per test session."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
NHS = SHARED / "benchmarks" / "nhs_fft"

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def demo_params(workdir: Path) -> dict:
    """The project's params.yaml with every output redirected into `workdir`.

    Inputs (demo comments, codebook, hand labels) stay the repo's own; the embedding cache is the
    repo's too, so the second session onwards embeds nothing.
    """
    from pipeline.config import load_params

    params = copy.deepcopy(load_params(ROOT / "params.yaml"))
    paths = params["paths"]
    for key in ("input", "codebook", "labelled"):
        value = paths[key]
        paths[key] = (
            [str(ROOT / v) for v in value] if isinstance(value, list) else str(ROOT / value)
        )
    paths["embedding_cache"] = str(ROOT / paths["embedding_cache"])
    outputs = {
        "comments": "data/interim/comments.parquet",
        "rejected": "data/interim/rejected.csv",
        "embeddings": "data/interim/embeddings.npy",
        "model_dir": "models/demo",
        "coded": "data/processed/coded.parquet",
    }
    for key, rel in outputs.items():
        paths[key] = str(workdir / rel)
    for key, value in list(paths.items()):
        # sections added by later stages (discover, report, ...) also write under workdir
        if (
            key not in outputs
            and key not in ("input", "codebook", "labelled", "embedding_cache")
            and isinstance(value, str)
            and not Path(value).is_absolute()
        ):
            paths[key] = str(workdir / value)
    return params


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> dict:
    """ingest -> embed -> train -> code on the demo, in-process (the model is loaded once)."""
    from pipeline import cli

    workdir = tmp_path_factory.mktemp("demo_run")
    params = demo_params(workdir)
    for stage in ("ingest", "embed", "train", "code"):
        cli.STAGES[stage](params)
    paths = params["paths"]
    return {
        "workdir": workdir,
        "params": params,
        "comments": Path(paths["comments"]),
        "embeddings": Path(paths["embeddings"]),
        "coded": Path(paths["coded"]),
        "model_dir": Path(paths["model_dir"]),
        "labelled": Path(paths["labelled"]),
        "codebook": Path(paths["codebook"]),
    }


@pytest.fixture(scope="session")
def nhs_dir() -> Path:
    if not (NHS / "comments.csv").exists():
        pytest.skip(f"benchmark data not found at {NHS}")
    return NHS


@pytest.fixture(scope="session")
def embedding_model():
    """The configured sentence-transformers model, loaded once per test session (offline)."""
    from pipeline.config import load_params
    from pipeline.embed import load_model

    return load_model(load_params(ROOT / "params.yaml")["embedding"]["model"])
