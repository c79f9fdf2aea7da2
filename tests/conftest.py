"""Shared fixtures: one real pipeline run on the demo consultation per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
NHS = SHARED / "benchmarks" / "nhs_fft"

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


DEMO = ROOT / "examples" / "policing"
CACHE = ROOT / ".cache" / "embeddings"
# what an analyst owns in a workspace: everything else is built
ANALYST_FILES = (
    "consultation.yaml",
    "export/*",
    "*/codebook.yaml",
    "*/responses.yaml",
    "*/summaries.yaml",
    "*/quotes.yaml",
    "*/labels/*",
)


# Fine-tuning the encoder (minutes per model) is measured by `make bench`. The demo's content
# tests run with it off, as they were written; the fine-tuning path itself runs for a few steps
# in test_finetune, the determinism and missing-embeddings tests and the parks workspace test.
QUICK_TUNE = {"fine_tune_steps": 4}
FROZEN = {"fine_tune_steps": 0}


def copy_workspace(source: Path, target: Path, **settings) -> Path:
    """A copy of a workspace's analyst files, sharing the repo's embedding cache.

    `settings` override sections of consultation.yaml's `settings` (e.g. report={"bootstrap": 200}).
    """
    import shutil

    import yaml

    for pattern in ANALYST_FILES:
        for path in source.glob(pattern):
            if path.is_file():
                dest = target / path.relative_to(source)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
    config = yaml.safe_load((target / "consultation.yaml").read_text(encoding="utf-8"))
    merged = config.setdefault("settings", {}) or {}
    merged.setdefault("embedding", {})["cache_dir"] = str(CACHE)
    for key, value in FROZEN.items():
        merged.setdefault("classifier", {}).setdefault(key, value)
    for section, values in settings.items():
        if isinstance(values, dict):
            merged.setdefault(section, {}).update(values)
        else:
            merged[section] = values
    config["settings"] = merged
    (target / "consultation.yaml").write_text(
        yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return target


@pytest.fixture(scope="session")
def demo_ws(tmp_path_factory):
    """The demo workspace, copied, with ingest -> embed -> train -> code run for every question."""
    from pipeline.stages import BY_NAME
    from pipeline.workspace import load_workspace

    root = copy_workspace(DEMO, tmp_path_factory.mktemp("demo_ws") / "policing")
    ws = load_workspace(root)
    for q in ws.config.questions:
        for stage in ("ingest", "embed", "train", "code"):
            BY_NAME[stage].run(ws, q)
    return ws


@pytest.fixture(scope="session")
def demo_run(demo_ws) -> dict:
    """The first demo question's files after the shared run (what most tests look at)."""
    q = demo_ws.question("missing")
    paths = demo_ws.paths(q)
    return {
        "ws": demo_ws,
        "question": q,
        "workdir": demo_ws.root,
        "comments": paths.comments,
        "embeddings": paths.embeddings,
        "coded": paths.coded,
        "model_dir": paths.model_dir,
        "labelled": paths.labelled,
        "codebook": paths.codebook,
        "paths": paths,
    }


@pytest.fixture(scope="session")
def nhs_dir() -> Path:
    if not (NHS / "comments.csv").exists():
        pytest.skip(f"benchmark data not found at {NHS}")
    return NHS


@pytest.fixture(scope="session")
def embedding_model():
    """The configured sentence-transformers model, loaded once per test session (offline)."""
    from pipeline.embed import load_model
    from pipeline.settings import EmbeddingSettings

    return load_model(EmbeddingSettings().model_name)
