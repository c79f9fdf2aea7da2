"""Survey weights for breakdowns: weighted within the samples that carry weights.

A survey weight only means something inside the sample it was computed for (a poll weighted
to London's population). Consultations mix such samples with self-selected routes (Talk
London) that have no weights at all. The rule used here:

- the *stratum* is the route (params `report.weight_stratum`), or the whole table if there is
  no such column;
- in a stratum where no row has a weight, every row counts 1 (it is an unweighted sample);
- in a stratum with weights, they are rescaled to average 1 over its rows, so each stratum
  keeps its own number of respondents in pooled figures and the weights only rebalance who
  is inside it; a row missing its weight in a weighted stratum gets that average (1), and
  the report says how many did.

So "weighted" pooled percentages (e.g. by gender across routes) keep the routes' mix as
collected and correct the demographic balance inside each poll. Never mixing raw weights
across samples avoids letting one poll's weighting scale dominate another sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.errors import YousaidError


def effective_weights(
    frame: pd.DataFrame, weight_col: str = "weight", stratum_col: str | None = "route"
) -> tuple[np.ndarray, list[str]]:
    """One weight per row under the rule above, and notes for the report's method section."""
    n = len(frame)
    if weight_col not in frame.columns:
        return np.ones(n), [f"No '{weight_col}' column: all figures are unweighted."]
    raw = pd.to_numeric(frame[weight_col], errors="coerce").to_numpy(dtype=float)
    if np.any(raw[~np.isnan(raw)] < 0):
        bad = int(np.flatnonzero(np.nan_to_num(raw, nan=0.0) < 0)[0])
        raise YousaidError(
            f"column '{weight_col}': negative weight {raw[bad]} for comment {frame['id'].iloc[bad]}"
        )
    if np.isnan(raw).all():
        return np.ones(n), [f"The '{weight_col}' column is empty: all figures are unweighted."]
    if stratum_col and stratum_col in frame.columns:
        strata = frame[stratum_col].fillna("(none)").astype(str).to_numpy()
    else:
        strata = np.full(n, "all")
    out = np.ones(n)
    weighted, unweighted, notes = [], [], []
    for stratum in pd.unique(strata):
        rows = strata == stratum
        w = raw[rows]
        have = ~np.isnan(w)
        if not have.any():
            unweighted.append(str(stratum))
            continue
        mean = w[have].mean()
        scaled = np.where(have, w / mean if mean > 0 else 1.0, 1.0)
        out[rows] = scaled
        weighted.append(str(stratum))
        if (~have).any():
            notes.append(
                f"{int((~have).sum())} comments in the weighted sample '{stratum}' have no weight "
                "and count at that sample's average weight (1)."
            )
    where = f" ({stratum_col})" if stratum_col and stratum_col in frame.columns else ""
    notes.insert(
        0,
        (
            f"Breakdowns are weighted within weighted samples{where}: "
            f"{', '.join(weighted)} weighted (weights rescaled to average 1 inside each sample); "
            f"{', '.join(unweighted) or 'none'} unweighted (each comment counts 1)."
        ),
    )
    return out, notes


def kish_n(w: np.ndarray) -> float:
    """Effective sample size of a weighted group, (sum w)^2 / sum w^2: the n that tests may use."""
    s2 = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / s2 if s2 > 0 else 0.0
