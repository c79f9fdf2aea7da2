"""The model-based count interval (no audit sample) must carry the chance in what the model misses."""

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook, Theme
from pipeline.columns import code_col, prob_col
from pipeline.report.counts import missed_positives, theme_counts


def test_missed_positives_follow_the_recall():
    rng = np.random.default_rng(0)
    found = np.full(20000, 120)
    missed = missed_positives(rng, found, np.full(20000, 0.6))
    # 120 found at recall 0.6: 80 missed on average, variance 120 * 0.4 / 0.36
    assert abs(missed.mean() - 80) < 1
    assert abs(missed.var() - 120 * 0.4 / 0.36) < 10
    assert (missed_positives(rng, np.zeros(5, int), np.full(5, 0.5)) == 0).all()


def test_interval_covers_the_true_count_when_the_rates_hold():
    """Rates known exactly (huge cross-validation): the interval's misses are the sampling alone.

    Each simulated consultation has 400 comments truly in the theme; the model finds each with
    probability 0.6 and adds false positives at precision 0.75. A 90% interval must hold the
    true 400 about 90% of the time; dividing by the recall alone covered far less.
    """
    book = Codebook(themes=(Theme("t", "Theme"),))
    rng = np.random.default_rng(1)
    metrics = {"per_theme": {"t": {"precision": 0.75, "recall": 0.6, "support": 1e6}}}
    metrics["per_theme"]["t"]["predicted"] = 0.6 * 1e6 / 0.75
    covered = []
    for sim in range(120):
        found = rng.binomial(400, 0.6)
        coded = found + rng.binomial(4000, found / 0.75 * 0.25 / 4000)
        frame = pd.DataFrame(
            {
                "substantive": True,
                "hand_labelled": False,
                code_col("t"): np.r_[np.ones(coded, int), np.zeros(5000 - coded, int)],
                prob_col("t"): 0.5,
            }
        )
        row = theme_counts(frame, book, metrics, n_boot=1000, seed=sim, level=0.9).iloc[0]
        covered.append(row["low"] <= 400 <= row["high"])
    assert 0.82 <= np.mean(covered) <= 0.97
