"""What to label: the first batch (random, spread over the comments) and the audit stream (a
plain simple random sample, sized by `suggest_audit_size`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.select import audit_sample, first_batch, suggest_audit_size


def clustered(sizes: list[int], seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(8)[: len(sizes)] * 5
    vectors = np.vstack(
        [c + rng.normal(0, 0.1, (n, 8)) for c, n in zip(centres, sizes, strict=True)]
    )
    ids = [f"c{i}" for i in range(len(vectors))]
    return pd.DataFrame({"id": ids, "substantive": True}), vectors


def test_first_batch_is_proportional_to_clusters_and_random_within():
    comments, vectors = clustered([400, 100, 50, 50])
    chosen = first_batch(comments, vectors, 60, seed=1)
    assert len(chosen) == len(set(chosen)) == 60
    group = np.repeat([0, 1, 2, 3], [400, 100, 50, 50])
    counts = np.bincount(group[chosen], minlength=4)
    assert counts.tolist() == [40, 10, 5, 5]  # each cluster's share of the 600
    again = first_batch(comments, vectors, 60, seed=1)
    other = first_batch(comments, vectors, 60, seed=2)
    assert again == chosen and other != chosen  # seeded, and a different seed draws others


def test_first_batch_skips_labelled_and_non_substantive():
    comments, vectors = clustered([30, 30])
    comments.loc[:9, "substantive"] = False
    done = [f"c{i}" for i in range(10, 20)]
    chosen = first_batch(comments, vectors, 25, exclude_ids=done, seed=0)
    assert len(chosen) == 25
    assert all(i >= 20 for i in chosen)
    assert first_batch(comments, vectors, 100, exclude_ids=done) == list(range(20, 60))
    assert first_batch(comments, vectors, 0) == []


def test_audit_sample_is_a_seeded_simple_random_sample_of_what_is_left():
    comments = pd.DataFrame({"id": [f"c{i}" for i in range(100)], "substantive": True})
    comments.loc[:9, "substantive"] = False
    done = [f"c{i}" for i in range(10, 30)]  # labelled or already in Label Studio
    draw = audit_sample(comments, 20, exclude_ids=done, seed=7)
    assert draw.population == 70 and len(draw.rows) == len(set(draw.rows)) == 20
    assert all(r >= 30 for r in draw.rows) and draw.rows == sorted(draw.rows)
    assert audit_sample(comments, 20, exclude_ids=done, seed=7) == draw
    assert audit_sample(comments, 20, exclude_ids=done, seed=8).rows != draw.rows
    assert audit_sample(comments, 500, exclude_ids=done).rows == list(range(30, 100))
    assert audit_sample(comments, 0, exclude_ids=done).rows == []


def test_audit_sample_gives_every_comment_the_same_chance():
    """No strata, no model: over many seeds each eligible comment is drawn about n/N of the time."""
    comments = pd.DataFrame({"id": [f"c{i}" for i in range(40)], "substantive": True})
    hits = np.zeros(40)
    for seed in range(2000):
        hits[audit_sample(comments, 10, seed=seed).rows] += 1
    share = hits / 2000
    assert abs(share.mean() - 0.25) < 1e-9 and share.min() > 0.2 and share.max() < 0.3


def test_suggest_audit_size_uses_the_finite_population_correction():
    # n0 = 1.645^2 * 0.1 * 0.9 / 0.05^2 = 97.4: 98 from a huge population, fewer from a small one
    assert suggest_audit_size(10_000_000, 0.05) == 98
    assert suggest_audit_size(313, 0.05) == 75  # 97.4 / (1 + 96.4 / 313) = 74.5
    assert suggest_audit_size(313, 0.05, level=0.95) == 97
    assert suggest_audit_size(100_000, 0.02) == 606
    assert suggest_audit_size(10, 0.05) == 10 and suggest_audit_size(0, 0.05) == 0
    assert suggest_audit_size(1000, 0.05, p=0.5) > suggest_audit_size(1000, 0.05, p=0.1)
    with pytest.raises(ValueError):
        suggest_audit_size(1000, 0.0)


def test_benchmark_replay_never_picks_a_comment_twice():
    """The learning curve's model-chosen points are only honest if n labels are n comments."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from benchmark_curve import batch_ends, replay_label_push

    rng = np.random.default_rng(0)
    topics = ["bus late again", "staff kind and helpful", "food was cold", "parking costs"]
    which = rng.integers(0, 4, 400)
    texts = [f"{topics[t]} {w}" for t, w in zip(which, rng.integers(0, 50, 400), strict=True)]
    E = np.eye(4)[which] + rng.normal(0, 0.5, (400, 4))
    Y = np.eye(4, dtype=int)[which]
    rows = np.arange(100, 400)  # a training split: positions are into rows, ids are rows' values
    params = {"cv": 2, "fine_tune_steps": 0}
    seen = []
    for end, picked in replay_label_push(texts, E, Y, rows, 260, 50, params, seed=3):
        assert len(picked) == len(set(picked)) == end
        assert all(0 <= p < len(rows) for p in picked)
        seen.append(end)
    assert seen == batch_ends(260, 50) == [50, 100, 150, 200, 260]
