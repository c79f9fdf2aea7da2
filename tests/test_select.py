"""The first batch to label, before any model: a random sample, spread over the comments."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.select import first_batch


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
