"""Scale: a killed embed stage resumes from its cache and leaves no half-written output; chunked
coding and chunked bootstrap draws give exactly the unchunked results; the scale benchmark's
inputs are unique texts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.embed import EmbeddingCache, embed_texts, read_embeddings

ROOT = Path(__file__).resolve().parents[1]
MODEL = "all-MiniLM-L6-v2"
SUBJECTS = [
    "police",
    "buses",
    "parks",
    "street lights",
    "the station",
    "youth clubs",
    "CCTV",
    "speeding",
    "graffiti",
    "knife crime",
]
VERBS = ["need more", "want fewer", "worry about", "complain about", "ask for", "never see"]


def _texts(n: int) -> list[str]:
    """Short, distinct answers: every one is embedded (no repeats for the cache to absorb)."""
    return [
        f"We {VERBS[i % len(VERBS)]} {SUBJECTS[(i // 6) % len(SUBJECTS)]} near block {i}."
        for i in range(n)
    ]


def _run_embed(root: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "embed", "--workspace", str(root)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _codebook(folder: Path, ids: list[str]):
    """A codebook with these theme ids (a model directory carries its codebook)."""
    from pipeline.codebook import load_codebook

    path = folder / "codebook.yaml"
    themes = [{"id": t, "name": t.capitalize()} for t in ids]
    path.write_text(yaml.safe_dump({"themes": themes}), encoding="utf-8")
    return load_codebook(path)


def _cached_rows(cache_dir: Path) -> int:
    return len(EmbeddingCache(cache_dir, MODEL))


@pytest.fixture()
def embed_setup(tmp_path):
    """A one-question workspace of 300 distinct answers, ingested, with its own empty cache."""
    from pipeline.stages import BY_NAME
    from pipeline.workspace import load_workspace

    texts = _texts(300)
    pd.DataFrame({"id": [f"k{i}" for i in range(len(texts))], "text": texts}).to_csv(
        tmp_path / "comments.csv", index=False
    )
    config = {
        "name": "t",
        "title": "T",
        "source": {"files": ["comments.csv"]},
        "id_column": "id",
        "questions": [{"id": "q", "column": "text"}],
        "settings": {"embedding": {"cache_dir": str(tmp_path / "cache"), "shard_size": 8}},
    }
    (tmp_path / "consultation.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    ws = load_workspace(tmp_path)
    assert ws.settings.embedding.model_name == MODEL
    BY_NAME["ingest"].run(ws, ws.question("q"))
    return ws, texts


def test_killed_embed_resumes_from_cache_and_writes_nothing_half(embed_setup, embedding_model):
    ws, texts = embed_setup
    cache_dir = ws.cache_dir / MODEL
    out = ws.paths("q").embeddings

    proc = _run_embed(ws.root)
    deadline = time.monotonic() + 90
    while not list(cache_dir.glob("shard-*.npz")):
        assert proc.poll() is None, f"embed ended before a shard was written: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "no shard written in 90 s"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    # killed halfway: some shards, complete and loadable; the output not there at all
    done_before = _cached_rows(cache_dir.parent)
    assert 0 < done_before < len(texts)
    assert done_before % 8 == 0  # whole shards only
    assert not out.exists()
    assert not out.with_suffix(".json").exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]

    rerun = _run_embed(ws.root)
    _, stderr = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, stderr
    m = re.search(r"embedded (\d+) comments with \S+: (\d+) computed, (\d+) from cache", stderr)
    assert m, stderr
    total, computed, cached = map(int, m.groups())
    assert total == len(texts)
    assert cached == done_before  # resumed: what the killed run finished is not computed again
    assert computed == len(texts) - done_before

    ids = [f"k{i}" for i in range(len(texts))]
    vectors = np.load(out)  # complete: the full shape, every row a unit vector
    assert vectors.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    fresh, _ = embed_texts(texts, MODEL, cache_dir=None, progress=False)
    np.testing.assert_allclose(vectors, fresh, atol=2e-5)
    assert isinstance(read_embeddings(out, ids), np.memmap)


def test_code_reads_the_embed_stage_file_memory_mapped(embed_setup):
    """`code` takes the row-aligned .npy (mmap) instead of rebuilding vectors from the cache."""
    from pipeline.embed import write_embeddings
    from pipeline.stages.embed import stage_vectors

    ws, texts = embed_setup
    path = ws.paths("q").embeddings
    ids = [f"k{i}" for i in range(len(texts))]
    vectors = np.eye(len(texts), 8, dtype=np.float32)
    write_embeddings(vectors, ids, MODEL, path)
    got = stage_vectors(path, ids, MODEL)
    assert isinstance(got, np.memmap)
    np.testing.assert_array_equal(got, vectors)
    assert stage_vectors(path, ids, "another-model") is None
    assert stage_vectors(path, ids[::-1], MODEL) is None  # other row order


def test_chunked_coding_is_identical(tmp_path):
    from pipeline.classify import ThemeClassifier
    from pipeline.coding import code
    from pipeline.modeldir import TrainedModel

    rng = np.random.default_rng(0)
    texts = _texts(120)
    Y = np.zeros((len(texts), 3), dtype=np.int8)
    for j, word in enumerate(("police", "buses", "parks")):
        Y[:, j] = [word in t for t in texts]
    E = rng.standard_normal((len(texts), 16)).astype(np.float32)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    clf = ThemeClassifier(cv=2, fine_tune_steps=0, progress=False).fit(texts, Y, embeddings=E)
    model = TrainedModel(
        clf,
        {
            "theme_ids": ["police", "buses", "parks"],
            "thresholds": list(clf.thresholds_),
            "untrained_themes": [],
            "model_version": "test",
        },
        _codebook(tmp_path, ["police", "buses", "parks"]),
    )
    frame = pd.DataFrame(
        {
            "id": [str(i) for i in range(len(texts))],
            "text": texts,
            "substantive": rng.random(len(texts)) > 0.2,
        }
    )
    whole = code(frame, model, E, chunk_size=10_000, progress=False)
    path = tmp_path / "E.npy"
    np.save(path, E)
    chunked = code(frame, model, np.load(path, mmap_mode="r"), chunk_size=7, progress=False)
    pd.testing.assert_frame_equal(whole, chunked)
    assert (whole.loc[~frame["substantive"], "labels"] == "").all()
    assert set(whole["labels"]) - {""}  # something was coded


def test_bootstrap_draws_in_blocks_match_one_matrix():
    from pipeline.report.counts import bernoulli_sums

    probs = np.random.default_rng(1).random(1_000) * 0.2
    expected = (np.random.default_rng(7).random((300, probs.size)) < probs).sum(axis=1)
    for cells in (1_000, 4_999, 10**9):
        got = bernoulli_sums(np.random.default_rng(7), probs, 300, max_cells=cells)
        np.testing.assert_array_equal(got, expected)


def test_scale_inputs_are_unique_and_seeded():
    sys.path.insert(0, str(ROOT / "scripts"))
    import benchmark_scale

    source = pd.DataFrame(
        {
            "text": ["Staff were kind and quick.", "Did not answer", None, "Long wait.", "Good."]
            * 4,
            "question": "why",
            "trust": "T",
            "service": "S",
            "fft_score": 1,
        }
    )
    a = benchmark_scale.build_input(source, 400, seed=3)
    b = benchmark_scale.build_input(source, 400, seed=3)
    pd.testing.assert_frame_equal(a, b)
    answers = a["text"][~a["text"].isin(["", "Did not answer"])]
    assert len(answers) > 200 and answers.is_unique
    assert a["id"].is_unique and len(a) == 400


def test_fast_param_switches_every_stage_to_the_static_model(tmp_path):
    from conftest import DEMO

    from pipeline.embed import FAST_MODEL, STATIC_MODELS
    from pipeline.settings import FAST_EMBEDDING, EmbeddingSettings
    from pipeline.workspace import load_workspace

    assert FAST_MODEL in STATIC_MODELS and FAST_EMBEDDING == FAST_MODEL
    assert load_workspace(DEMO).settings.embedding.model_name == "all-MiniLM-L6-v2"
    assert EmbeddingSettings(fast=True).model_name == FAST_MODEL
    config = yaml.safe_load((DEMO / "consultation.yaml").read_text(encoding="utf-8"))
    for fast, expected in ((True, FAST_MODEL), ("/models/my-static", "/models/my-static")):
        config["settings"]["embedding"] = {"fast": fast}
        (tmp_path / "consultation.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        assert load_workspace(tmp_path).settings.embedding.model_name == expected


def test_static_model_is_distilled_once_and_never_left_half_built(tmp_path):
    from pipeline.embed import FAST_MODEL, static_model_path

    calls = []

    class Distilled:
        def __init__(self, fail: bool) -> None:
            self.fail = fail

        def save_pretrained(self, folder: str) -> None:
            Path(folder, "model.safetensors").write_bytes(b"half")
            if self.fail:
                raise OSError("disk full")
            Path(folder, "modules.json").write_text("[]", encoding="utf-8")

    def distill(fail: bool):
        def run(model_name: str, pca_dims: int, device: str):
            calls.append((Path(model_name).name, pca_dims, device))
            return Distilled(fail)

        return run

    with pytest.raises(OSError, match="disk full"):
        static_model_path(FAST_MODEL, root=tmp_path, distill=distill(fail=True))
    assert list(tmp_path.iterdir()) == []  # nothing a later run could take for a model
    path = static_model_path(FAST_MODEL, root=tmp_path, distill=distill(fail=False))
    assert (path / "modules.json").exists() and path.parent == tmp_path
    assert static_model_path(FAST_MODEL, root=tmp_path, distill=distill(fail=True)) == path
    assert calls == [("model", 256, "cpu"), ("model", 256, "cpu")]  # not again once built


def test_static_model_is_really_distilled_and_embeds():
    """The real distillation (once per machine, about 30 s; later runs reuse the user cache)."""
    from pipeline.embed import FAST_MODEL, STATIC_MODELS, static_model_path

    assert (static_model_path(FAST_MODEL) / "modules.json").exists()
    assert STATIC_MODELS[FAST_MODEL].teacher == MODEL
    texts = [
        "The ambulance came quickly.",
        "Waited six hours in A&E.",
        "The ambulance came quickly.",
        " ",
    ]
    vectors, stats = embed_texts(texts, FAST_MODEL, cache_dir=None, progress=False)
    assert vectors.shape == (4, 256) and stats["unique_to_embed"] == 3
    np.testing.assert_allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-3)
    assert not vectors[3].any()  # no tokens: zeros, not NaN
    np.testing.assert_array_equal(vectors[0], vectors[2])
    assert float(vectors[0] @ vectors[1]) < 0.99


def test_coding_partitions_equals_coding_the_whole_table(tmp_path, embedding_model):
    """What a Dask/Ray map over Parquet partitions would run gives the single-machine result."""
    from pipeline import modeldir
    from pipeline.classify import ThemeClassifier
    from pipeline.coding import code, code_partition

    texts = _texts(90)
    Y = np.array([[("police" in t), ("buses" in t)] for t in texts], dtype=np.int8)
    E, _ = embed_texts(texts, MODEL, cache_dir=tmp_path / "cache", progress=False)
    clf = ThemeClassifier(cv=2, fine_tune_steps=0, progress=False).fit(texts, Y, embeddings=E)
    meta = {
        "theme_ids": ["police", "buses"],
        "thresholds": list(clf.thresholds_),
        "untrained_themes": [],
        "model_version": "partitioned",
        "embedding_model": MODEL,
    }
    book = _codebook(tmp_path, ["police", "buses"])
    modeldir.save(tmp_path / "model", clf, meta, {}, "", book)
    frame = pd.DataFrame(
        {
            "id": [f"p{i}" for i in range(len(texts))],
            "text": texts,
            "substantive": [i % 7 != 0 for i in range(len(texts))],
        }
    )
    whole = code(frame, modeldir.load(tmp_path / "model"), E, progress=False)
    parts = [
        code_partition(part, str(tmp_path / "model"), str(tmp_path / "cache"))
        for part in (frame.iloc[:25], frame.iloc[25:61], frame.iloc[61:])
    ]
    pd.testing.assert_frame_equal(pd.concat(parts), whole)
