"""Fine-tuning the encoder on the labels: what it learns, what it stores, and that it repeats."""

from __future__ import annotations

import io

import joblib
import numpy as np
import pytest
from conftest import ROOT

from pipeline.codebook import load_codebook
from pipeline.finetune import fine_tune, jaccard, steps_for
from pipeline.labelled import label_matrix, read_labelled

MODEL = "all-MiniLM-L6-v2"


def test_jaccard_and_step_budget():
    Y = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]])
    J = jaccard(Y)
    assert J[0, 1] == pytest.approx(0.5) and J[0, 2] == 0 and J[2, 2] == 1
    assert J[3, 4] == 1  # two comments with no theme are alike
    assert steps_for(200, 80) == 63  # ten passes over 200 labels in batches of 32
    assert steps_for(3000, 80) == 80  # capped: the cost stops growing with the labels
    assert steps_for(5, 80) == 2


@pytest.fixture(scope="module")
def nhs_sample(nhs_dir):
    book = load_codebook(nhs_dir / "codebook.yaml")
    frame = read_labelled(nhs_dir / "comments.csv", book)
    frame = frame[frame["non_substantive"].astype(str) == "0"].sample(400, random_state=1)
    return frame["text"].fillna("").tolist(), label_matrix(frame["labels"], book.ids)


def _margin(vectors: np.ndarray, Y: np.ndarray) -> float:
    """Mean cosine of pairs sharing a theme minus that of pairs sharing none."""
    S, J = vectors @ vectors.T, jaccard(Y)
    off = ~np.eye(len(Y), dtype=bool)
    return float(S[(J > 0) & off & (Y.sum(1)[:, None] > 0)].mean() - S[(J == 0) & off].mean())


def test_tuning_pulls_comments_of_a_theme_together_on_unseen_comments(nhs_sample):
    from pipeline.embed import embed_texts, load_model

    texts, Y = nhs_sample
    train, held = slice(0, 200), slice(200, 400)
    before = {k: v.detach().clone() for k, v in load_model(MODEL).state_dict().items()}
    tuned = fine_tune(MODEL, texts[train], Y[train], steps=40, seed=3, progress=False)
    frozen = embed_texts(
        texts[held], MODEL, cache_dir=ROOT / ".cache" / "embeddings", progress=False
    )[0]
    gain = _margin(tuned.encode(texts[held]), Y[held]) - _margin(frozen, Y[held])
    assert gain > 0.05, gain
    # the shared, loaded encoder is untouched: other stages keep their frozen vectors
    after = load_model(MODEL).state_dict()
    assert all(np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)


def test_tuned_encoder_stores_only_its_layers_and_repeats(nhs_sample):
    texts, Y = nhs_sample
    a = fine_tune(MODEL, texts[:64], Y[:64], steps=3, seed=5, progress=False)
    b = fine_tune(MODEL, texts[:64], Y[:64], steps=3, seed=5, progress=False)
    va, vb = a.encode(texts[100:110]), b.encode(texts[100:110])
    assert np.array_equal(va, vb)  # same labels, same seed: the same encoder
    buffer = io.BytesIO()
    joblib.dump(a, buffer, compress=3)
    assert buffer.tell() < 20e6  # the top two layers, not the 90 MB model
    buffer.seek(0)
    again = joblib.load(buffer)
    assert np.allclose(again.encode(texts[100:110]), va, atol=1e-6)


@pytest.mark.parametrize("layers", [2, None])
def test_cached_lower_layers_give_the_full_models_vectors(nhs_sample, layers):
    """Training and fit-time encoding run only the tuned layers on cached states: a shortcut
    that must not change a single vector the full model would give (long, short, padded)."""
    from pipeline.finetune import frozen_states

    texts, Y = nhs_sample
    sample = [*texts[:40], "ok", "word " * 200]  # one-word, and cut at the token limit
    tuned = fine_tune(MODEL, texts[:64], Y[:64], steps=2, train_layers=layers, progress=False)
    cached = tuned.encode_states(frozen_states(MODEL, sample, layers), batch_size=8)
    assert np.allclose(cached, tuned.encode(sample), atol=1e-5)
    assert not np.allclose(cached[:-1], cached[1:], atol=1e-3)  # and not one vector repeated


def test_only_mean_pooled_transformers_are_tuned():
    """The cached path reproduces mean pooling; another pooling keeps the encoder frozen."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    from pipeline.embed import load_model
    from pipeline.finetune import can_fine_tune

    packaged = load_model(MODEL)
    assert can_fine_tune(packaged)
    cls = SentenceTransformer(modules=[packaged[0], Pooling(384, pooling_mode="cls")])
    assert not can_fine_tune(cls)
