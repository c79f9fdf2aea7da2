"""Embedding cache and model loading: only new texts are embedded, a missing model package is
one clear error naming what to install, and vectors stay aligned with the comments table."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest

from pipeline import embed
from pipeline.embed import (
    MODELS,
    EmbeddingCache,
    ModelSource,
    embed_texts,
    read_embeddings,
    text_key,
    write_embeddings,
)
from pipeline.errors import YousaidError

MODEL = "all-MiniLM-L6-v2"
FIRST = [
    "More police on the beat in Croydon, please.",
    "The front counter at my local station closed last year.",
    "Speeding cars on our road every night.",
    "Youth clubs have all shut; kids have nowhere to go.",
    "More police on the beat in Croydon, please.",  # a repeat: embedded once
]
ADDED = [
    "Cannabis smoke in the park every afternoon.",
    "Nobody investigated when my bike was stolen.",
    "Women do not feel safe walking home at night.",
]


@pytest.fixture()
def spy(embedding_model, monkeypatch):
    """Record every text the real model is asked to encode."""
    calls: list[list[str]] = []
    real = embedding_model.encode

    def encode(texts, *args, **kwargs):
        calls.append(list(texts))
        return real(texts, *args, **kwargs)

    monkeypatch.setattr(embedding_model, "encode", encode)
    return calls


def test_rerun_after_adding_texts_embeds_only_the_new_ones(tmp_path, spy):
    cache = tmp_path / "cache"
    first, stats = embed_texts(FIRST, MODEL, cache_dir=cache, progress=False)
    assert stats == {"texts": 5, "unique_to_embed": 4, "cached": 0}
    assert sorted(itertools.chain(*spy)) == sorted(set(FIRST))
    assert first.shape == (5, 384) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first[0], first[4])

    spy.clear()
    both, stats = embed_texts(FIRST + ADDED, MODEL, cache_dir=cache, progress=False)
    assert stats == {"texts": 8, "unique_to_embed": 3, "cached": 5}
    assert list(itertools.chain(*spy)) == ADDED  # the model saw the new texts only
    np.testing.assert_array_equal(both[:5], first)  # cached vectors come back unchanged

    spy.clear()
    backwards = list(reversed(FIRST + ADDED))
    again, stats = embed_texts(backwards, MODEL, cache_dir=cache, progress=False)
    assert stats["unique_to_embed"] == 0 and spy == []
    np.testing.assert_array_equal(again, both[::-1])


def test_cache_is_keyed_by_model(tmp_path):
    vectors = np.ones((1, 3), dtype=np.float32)
    EmbeddingCache(tmp_path, "model-a").add([text_key("hello")], vectors)
    assert text_key("hello") in EmbeddingCache(tmp_path, "model-a")
    assert text_key("hello") not in EmbeddingCache(tmp_path, "model-b")


def test_cache_reload_keeps_keys_ending_in_a_nul_byte(tmp_path):
    """numpy strips trailing NULs from fixed-width bytes: one digest in 256 ends in 0x00."""
    text = next(t for t in (f"comment {i}" for i in range(100_000)) if text_key(t)[-1] == 0)
    other = "a comment whose digest is ordinary"
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    EmbeddingCache(tmp_path, MODEL).add([text_key(text), text_key(other)], vectors)

    reloaded = EmbeddingCache(tmp_path, MODEL)  # what a second `yousaid embed` run sees
    assert text_key(text) in reloaded and len(reloaded) == 2
    np.testing.assert_array_equal(reloaded.get(text_key(text)), vectors[0])


def test_missing_model_package_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(
        MODELS,
        "absent-model",
        ModelSource(
            package="yousaid-absent-model-weights",
            module="yousaid_absent_model_weights_xyz",
            locate=lambda mod: tmp_path,
        ),
    )
    with pytest.raises(YousaidError) as err:
        embed_texts(["some text"], "absent-model", cache_dir=tmp_path / "cache", progress=False)
    message = str(err.value)
    assert "pip install yousaid-absent-model-weights" in message
    assert "absent-model" in message and "\n" not in message
    assert "absent-model" not in embed._LOADED


def test_installed_package_without_weights_is_reported(tmp_path, monkeypatch):
    monkeypatch.setitem(
        MODELS,
        "hollow-model",
        ModelSource(package="hollow-pkg", module="json", locate=lambda mod: tmp_path / "nope"),
    )
    with pytest.raises(YousaidError, match="'hollow-pkg' is installed but holds no model"):
        embed.model_path("hollow-model")


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(YousaidError, match=f"unknown embedding model 'no-such-model'.*{MODEL}"):
        embed.model_path("no-such-model")


def test_cached_texts_need_no_model(tmp_path, monkeypatch):
    """Everything cached: the model (and its package) is never touched."""
    EmbeddingCache(tmp_path, "absent-model").add([text_key("x")], np.ones((1, 4), np.float32))

    def fail(name):
        raise AssertionError("the model should not load")

    monkeypatch.setattr(embed, "load_model", fail)
    vectors, stats = embed_texts(["x", "x"], "absent-model", cache_dir=tmp_path, progress=False)
    assert stats["unique_to_embed"] == 0 and vectors.shape == (2, 4)


def test_embeddings_file_refuses_another_comments_table(tmp_path):
    path = write_embeddings(np.eye(3, dtype=np.float32), ["a", "b", "c"], MODEL, tmp_path / "e.npy")
    assert read_embeddings(path, ["a", "b", "c"]).shape == (3, 3)
    meta = (tmp_path / "e.json").read_text()
    assert hashlib.sha256(b"a\nb\nc").hexdigest() in meta and MODEL in meta
    with pytest.raises(YousaidError, match="different comments table"):
        read_embeddings(path, ["a", "c", "b"])
    with pytest.raises(YousaidError, match="run `yousaid embed` first"):
        read_embeddings(tmp_path / "missing.npy")
