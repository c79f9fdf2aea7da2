"""Which comments a person should label next: the ones the model is least sure of, spread out.

Uncertainty alone picks fifty near-duplicates of the same borderline comment; clustering the
most uncertain pool and taking the least certain comment of each cluster keeps a batch varied.
Before any model exists the first batch is a random sample spread over clusters of the comments
(`first_batch`): random, so the first labels say how common each theme is; spread, so a rare
kind of comment is not missed by chance.

None of those picks may judge the model: the AUDIT stream does (`audit_sample`), a plain simple
random sample without replacement of the substantive comments nobody has labelled or queued,
seeded, whose population size is kept with it; `suggest_audit_size` says how big it should be.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.cluster import KMeans

from pipeline.codebook import Codebook

log = logging.getLogger(__name__)

# The model whose uncertainty picks the next batch, in place of the coding model's settings.
# Frozen encoder: it fits in seconds, so each batch is chosen with every label so far. Plain
# TF-IDF even where the coding model is naive-Bayes weighted: that weighting codes a little
# better but picks worse (NHS, 3 seeds, model-chosen at 200 labels: 0.603 with its own picks,
# 0.618 with these; docs/benchmarks.md, fifth round).
PICKER = {"fine_tune_steps": 0, "naive_bayes_text": False}


def picker_scores(
    texts: Sequence[str],
    vectors: np.ndarray,
    labelled: np.ndarray,
    Y: np.ndarray,
    params: dict,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities of every comment, thresholds) from a PICKER fitted on the `labelled` rows."""
    from pipeline.classify import ThemeClassifier

    log.info("fitting the picker on %d labels to score %d comments", len(labelled), len(texts))
    clf = ThemeClassifier(random_state=seed, progress=False, **{**params, **PICKER})
    clf.fit([texts[i] for i in labelled], Y, embeddings=vectors[labelled])
    return clf.predict_proba(list(texts), vectors), clf.thresholds_


def zero_shot_scores(embeddings: np.ndarray, theme_vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity of each comment to each theme's prompt, mapped to 0-1."""
    sims = np.asarray(embeddings, dtype=np.float32) @ np.asarray(theme_vectors, dtype=np.float32).T
    return np.clip((sims + 1) / 2, 0, 1)


def theme_vectors(codebook: Codebook, embed) -> np.ndarray:
    """Embed each theme's prompt; `embed` maps a list of texts to normalised vectors."""
    return np.asarray(embed([t.prompt for t in codebook.themes]), dtype=np.float32)


def uncertainty(probs: np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
    """1 for a comment sitting on some theme's threshold, falling to 0 far from every threshold.

    Without thresholds (zero-shot scores) the margin between the two best themes stands in:
    a comment that fits two themes almost equally is one a person should settle.
    """
    probs = np.asarray(probs, dtype=float)
    if thresholds is not None:
        t = np.asarray(thresholds, dtype=float)
        distance = np.abs(probs - t) / np.maximum(t, 1 - t)
        return 1 - distance.min(axis=1)
    if probs.shape[1] < 2:
        return np.zeros(len(probs))
    top = np.sort(probs, axis=1)[:, -2:]
    margin = top[:, 1] - top[:, 0]
    return 1 - margin / max(float(margin.max()), 1e-9)


def _eligible(comments: pd.DataFrame, exclude_ids: Iterable[str]) -> np.ndarray:
    """Positions of substantive comments not labelled and not waiting in Label Studio."""
    excluded = set(map(str, exclude_ids))
    ok = np.array([i not in excluded for i in comments["id"].astype(str)], dtype=bool)
    if "substantive" in comments.columns:
        ok = ok & comments["substantive"].to_numpy(dtype=bool)
    return np.flatnonzero(ok)


@dataclass(frozen=True)
class AuditDraw:
    """Row positions drawn, and the size of the population they were drawn from."""

    rows: list[int]
    population: int


def audit_sample(
    comments: pd.DataFrame, n: int, exclude_ids: Iterable[str] = (), seed: int = 42
) -> AuditDraw:
    """A simple random sample without replacement of `n` substantive comments not in
    `exclude_ids` (labelled, or already in Label Studio), every one equally likely: no strata,
    no model, so its labels give unbiased error rates. All of them when `n` >= the population."""
    candidates = _eligible(comments, exclude_ids)
    if n <= 0:
        return AuditDraw([], len(candidates))
    rng = np.random.default_rng(seed)
    take = min(n, len(candidates))
    rows = rng.choice(candidates, size=take, replace=False)
    return AuditDraw(sorted(int(r) for r in rows), len(candidates))


def suggest_audit_size(
    population: int, target_halfwidth: float = 0.05, p: float = 0.1, level: float = 0.9
) -> int:
    """How many comments to audit so that a theme holding share `p` of `population` comments is
    estimated within +/- `target_halfwidth` (a share: 0.05 = 5 percentage points) at `level`.

    The textbook size for a proportion from a simple random sample, n0 = z^2 p (1 - p) / h^2,
    with the finite-population correction n = n0 / (1 + (n0 - 1) / N). It is the size a count
    needs from the audit alone; a good model narrows the prediction-powered interval further, so
    take it as advice, not a guarantee (a rarer theme needs fewer, one nearer 50% more).
    """
    if population <= 0:
        return 0
    if not 0 < target_halfwidth < 1 or not 0 < p < 1 or not 0 < level < 1:
        raise ValueError("target_halfwidth, p and level must lie between 0 and 1")
    z = float(stats.norm.ppf(0.5 + level / 2))
    n0 = z * z * p * (1 - p) / target_halfwidth**2
    n = n0 / (1 + (n0 - 1) / population)
    return min(population, math.ceil(n))


def first_batch(
    comments: pd.DataFrame,
    embeddings: np.ndarray,
    n: int,
    exclude_ids: Iterable[str] = (),
    seed: int = 42,
    strata: int = 8,
) -> list[int]:
    """A random sample of `n` comments, stratified over k-means clusters of their embeddings.

    Each cluster gets a share of the batch proportional to its size (largest remainders), so the
    batch is still a fair sample of the consultation, and is drawn at random within it.
    """
    candidates = _eligible(comments, exclude_ids)
    if n <= 0 or len(candidates) <= n:
        return candidates.tolist() if n > 0 else []
    rng = np.random.default_rng(seed)
    k = max(1, min(strata, n, len(candidates) // 5))
    labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(
        np.asarray(embeddings)[candidates]
    )
    sizes = np.bincount(labels, minlength=k)
    quota = sizes * n / sizes.sum()
    take = np.floor(quota).astype(int)
    for c in np.argsort(-(quota - take), kind="stable")[: n - take.sum()]:
        take[c] += 1
    chosen = [
        int(row)
        for c in range(k)
        for row in rng.choice(candidates[labels == c], size=take[c], replace=False)
    ]
    return sorted(chosen)


def choose_next(
    comments: pd.DataFrame,
    embeddings: np.ndarray,
    probs: np.ndarray,
    n: int,
    thresholds: np.ndarray | None = None,
    exclude_ids: Iterable[str] = (),
    seed: int = 42,
    pool_factor: int = 5,
) -> list[int]:
    """Row positions of up to `n` substantive, not-yet-labelled comments to label next."""
    candidates = _eligible(comments, exclude_ids)
    if n <= 0 or len(candidates) == 0:
        return []
    if len(candidates) <= n:
        return candidates.tolist()
    score = uncertainty(np.asarray(probs)[candidates], thresholds)
    # stable order: most uncertain first, row position breaks ties
    order = np.lexsort((candidates, -score))
    pool = candidates[order[: max(n * pool_factor, n)]]
    pool_score = score[order[: len(pool)]]
    k = min(n, len(pool))
    labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(
        np.asarray(embeddings)[pool]
    )
    picked: list[int] = []
    for cluster in range(k):
        members = np.flatnonzero(labels == cluster)
        if len(members):
            best = members[np.argmax(pool_score[members])]
            picked.append((float(pool_score[best]), int(pool[best])))
    picked.sort(key=lambda x: (-x[0], x[1]))
    chosen = [row for _, row in picked][:n]
    if len(chosen) < n:  # empty clusters: top up with the next most uncertain
        chosen += [int(r) for r in pool if int(r) not in set(chosen)][: n - len(chosen)]
    return chosen
