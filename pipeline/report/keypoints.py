"""Key points within each theme and emerging themes outside the codebook: the "you said" narrative.

A theme's comments are clustered on their embeddings (KMeans, fixed seed, k by silhouette over a
size-bounded range) so that every comment sits in exactly one key point and the counts add up to
the theme's. Each point is named by noun phrases (spaCy `en_core_web_sm` noun chunks, lemmatised,
stop words dropped) ranked by how distinctive they are of that point within the theme (a
c-TF-IDF-like score), so a label reads "knife crime; young people" rather than "knife"; a theme
of more than PHRASE_SAMPLE comments is named from a seeded uniform sample of them. The
representative quote is the comment nearest the cluster centre, redacted like every other quote.
Substantive comments coded to no theme are grouped differently (`topic_groups`: only comments
clearly alike form a group); groups of a useful size are candidates for a new theme ("Other issues
raised").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipeline.columns import code_col
from pipeline.report.quotes import QuoteConfig, _flagged, _prepare

DRAFT = "Draft (built from the key points; replace it in summaries.yaml):"
EMERGING_NOTE = (
    "These comments fall outside the codebook: no theme was coded for them. Each group is a "
    "candidate for a new theme (`yousaid codebook promote CLUSTER`), not a finding."
)
# nouns that name no point on their own ("people said a thing about the police")
GENERIC = frozenset(
    "people person thing way lot time year month week day police plan word bit kind sort "
    "area place point issue problem something anything everything nothing one part fact".split()
)
PHRASE_SAMPLE = 2_000  # comments per theme whose phrases name its points (see phrase_sample)
MIN_PER_POINT = 20
# how much more alike than two random comments of the pool a group's comments are, in standard
# deviations (topic_groups): on the demo the knife-crime group is the same from 0.75 to 1.0 (0.7
# makes it a catch-all); 0.85 found more planted topics than 1.0 in scripts/benchmark_emerging.py
GROUP_Z = 0.85
GROUP_SAMPLE = 5_000  # comments grouped pairwise; the rest join the group they are most alike
MULTI_WORD_BONUS = 2.0  # a phrase reads as a point; a single noun rarely does
KP_COLUMNS = ["theme_id", "point", "label", "n", "keyphrases", "quote", "quote_id", "ids"]
EM_COLUMNS = ["cluster", "label", "n", "keyphrases", "quotes", "ids"]


def noun_phrases(texts: Sequence[str], extra_stop: Sequence[str] = ()) -> list[set[str]]:
    """Each text's noun phrases, as discovery names topics (pipeline.keyphrases): lemmatised,
    stop and evaluative words dropped, people's names never kept."""
    from pipeline.keyphrases import comment_phrases

    texts = ["" if t is None else str(t) for t in texts]
    found = comment_phrases(texts, extra_stop)
    if found is None:
        return [set() for _ in texts]
    return [{p for p in phrases if p not in GENERIC} for phrases in found]


def phrase_sample(labels: np.ndarray, seed: int = 42) -> np.ndarray:
    """Positions of the comments whose phrases name the points: all up to PHRASE_SAMPLE, else a
    uniform sample of that many, topped up to MIN_PER_POINT comments of each point.

    Why: parsing is most of a large report's time (about 200 s for 79,000 comments), while a
    point's top phrases are shares of its comments, which a uniform sample estimates without bias
    (docs/scaling.md measures how often a label changes). The points and their counts still
    come from every comment.
    """
    n = len(labels)
    if n <= PHRASE_SAMPLE:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    keep = np.zeros(n, dtype=bool)
    keep[rng.choice(n, PHRASE_SAMPLE, replace=False)] = True
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        short = min(MIN_PER_POINT, len(members)) - int(keep[members].sum())
        if short > 0:
            keep[rng.choice(members[~keep[members]], short, replace=False)] = True
    return np.flatnonzero(keep)


def choose_k(n: int, lo: int = 3, hi: int = 8) -> tuple[int, ...]:
    """Candidate numbers of points for n comments: 1 below 6, 2 below 12, else lo..hi (>= 4 each)."""
    if n < 6:
        return (1,)
    if n < 12:
        return (2,)
    return tuple(range(lo, max(lo, min(hi, n // 4)) + 1))


def cluster(vectors: np.ndarray, ks: Sequence[int], seed: int = 42) -> np.ndarray:
    """Cluster labels 0..k-1 (KMeans on unit vectors), k the candidate with the best silhouette."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=int)
    ks = [k for k in ks if k < n] or [1]
    if ks == [1]:
        return np.zeros(n, dtype=int)
    x = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    best, best_score = None, -np.inf
    for k in ks:
        labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(x)
        # a sample keeps the silhouette (O(n^2)) affordable for themes of many thousand comments
        sample = min(n, 2000)
        score = (
            silhouette_score(x, labels, sample_size=sample, random_state=seed)
            if len(set(labels)) > 1
            else -1.0
        )
        if score > best_score:
            best, best_score = labels, score
    # relabel by size, largest first, so point 1 is the most raised
    sizes = Counter(best.tolist())
    order = {c: i for i, (c, _) in enumerate(sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])))}
    return np.array([order[c] for c in best], dtype=int)


def topic_groups(
    vectors: np.ndarray, z: float = GROUP_Z, sample: int = GROUP_SAMPLE, seed: int = 42
) -> np.ndarray:
    """Groups 0..g-1 of two or more comments on one subject, largest first; -1 for a comment in
    none.

    A group is an average-linkage cluster: every merge joined comments whose mean cosine
    similarity is at least `z` standard deviations above the mean similarity of two comments of
    the pool. Why not KMeans with k by silhouette, as for key points: comments coded to no theme
    are leftovers, mostly unlike each other, so silhouette is nearly flat over k and a partition
    must put each of them somewhere; a small k then turns one real topic into a catch-all that
    reports dozens of unrelated comments under its name. A threshold relative to the pool holds
    for any embedding model (the static one's similarities run about 0.3 higher than MiniLM's).
    Pools over `sample` comments are grouped on a seeded sample; every other comment joins the
    group whose members it is on average most alike, if that clears the same bar.
    """
    from sklearn.cluster import AgglomerativeClustering

    x = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    n = len(x)
    if n < 2:
        return np.full(n, -1, dtype=int)
    rows = np.arange(n)
    if n > sample:
        rows = np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))
    sims = (x[rows] @ x[rows].T).astype(np.float64)
    pairs = sims[np.triu_indices(len(rows), 1)]
    bar = pairs.mean() + z * pairs.std()
    distance = np.clip(1.0 - sims, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    found = AgglomerativeClustering(
        n_clusters=None,
        metric="precomputed",
        linkage="average",
        distance_threshold=max(1.0 - bar, 1e-6),  # identical comments (sd 0) still merge
    ).fit_predict(distance)
    labels = np.full(n, -1, dtype=int)
    labels[rows] = found
    if len(rows) < n:
        rest = np.setdiff1d(np.arange(n), rows)
        sums = np.zeros((found.max() + 1, x.shape[1]))  # groups are numbered 0..g-1
        np.add.at(sums, found, x[rows])
        alike = (x[rest] @ sums.T) / np.bincount(found)  # mean similarity to each group's members
        best = alike.argmax(axis=1)
        labels[rest] = np.where(alike[np.arange(len(rest)), best] >= bar, best, -1)
    sizes = Counter(labels[labels >= 0].tolist())
    ranked = sorted((g for g, size in sizes.items() if size > 1), key=lambda g: (-sizes[g], g))
    order = {g: i for i, g in enumerate(ranked)}
    return np.array([order.get(g, -1) for g in labels], dtype=int)


def rank_phrases(phrases: Sequence[set[str]], labels: np.ndarray, top: int = 5) -> list[list[str]]:
    """Each cluster's most distinctive phrases: share of its comments using the phrase times
    log(1 + mean cluster size / comments using it anywhere), doubled for multi-word phrases (they
    read as a point, single words rarely do); only phrases two comments share."""
    k = int(labels.max()) + 1 if len(labels) else 0
    overall = Counter(p for ps in phrases for p in ps)
    avg = len(labels) / max(k, 1)
    out: list[list[str]] = []
    for c in range(k):
        members = [phrases[i] for i in np.flatnonzero(labels == c)]
        counts = Counter(p for ps in members for p in ps)
        shared = {p: n for p, n in counts.items() if n >= 2 or len(members) <= 2} or dict(counts)
        size = len(members)

        def score(item: tuple[str, int], size: int = size) -> tuple[float, str]:
            p, n = item
            bonus = MULTI_WORD_BONUS if " " in p else 1.0
            return (bonus * n / size * math.log(1 + avg / overall[p]), p)

        ranked = sorted(shared.items(), key=score, reverse=True)
        chosen: list[str] = []
        # skip phrases contained in one already chosen ("crime" in "knife crime")
        for p, _ in ranked:
            if not any(p in q or q in p for q in chosen):
                chosen.append(p)
            if len(chosen) == top:
                break
        out.append(chosen)
    return out


def label_of(phrases: Sequence[str]) -> str:
    """A readable label from the top phrases: the first two, capitalised."""
    if not phrases:
        return "Other comments"
    text = "; ".join(phrases[:2])
    return text[0].upper() + text[1:]


def _quotes(
    rows: np.ndarray,
    x: np.ndarray | None,
    texts: pd.Series,
    flagged: np.ndarray,
    ids: pd.Series,
    banned: set[str],
    qcfg: QuoteConfig,
    n: int,
) -> list[tuple[str, str]]:
    """Up to n (id, quote) pairs, nearest the cluster centre first, skipping unsafe or banned ones."""
    if x is not None:
        centre = x[rows].mean(axis=0)
        order = rows[np.argsort(-(x[rows] @ centre), kind="stable")]
    else:
        order = rows
    out: list[tuple[str, str]] = []
    for i in order:
        if ids.iloc[i] in banned:
            continue
        prepared = _prepare(str(texts.iloc[i]), bool(flagged[i]), qcfg)
        if prepared is not None:
            out.append((str(ids.iloc[i]), prepared[0]))
        if len(out) == n:
            break
    return out


def _unit(embeddings: np.ndarray | None, n: int) -> np.ndarray | None:
    if embeddings is None:
        return None
    x = np.asarray(embeddings, dtype=np.float32)[:n]
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def key_points(
    frame: pd.DataFrame,
    order: Sequence[str],
    embeddings: np.ndarray | None,
    qcfg: QuoteConfig,
    safe_texts: Sequence[str],
    *,
    banned: set[str] | frozenset[str] = frozenset(),
    seed: int = 42,
) -> pd.DataFrame:
    """One row per key point (KP_COLUMNS): every substantive comment coded to a theme is in exactly
    one of that theme's points. `frame` has hand labels applied; `embeddings` row-aligned with it
    (None: one point per theme); `safe_texts` its texts without personal data
    (`without_personal_data`), which the labels are named from."""
    sub = frame["substantive"].to_numpy(bool)
    x = _unit(embeddings, len(frame))
    flagged = _flagged(frame, qcfg.personal_data_column)
    ids = frame["id"].astype(str)
    points = {}  # theme -> (its comments' rows, their point, the positions whose phrases count)
    for t in order:
        rows = np.flatnonzero(sub & frame[code_col(t)].to_numpy().astype(bool))
        if not len(rows):
            continue
        ks = choose_k(len(rows)) if x is not None else (1,)
        labels = cluster(x[rows], ks, seed) if x is not None else np.zeros(len(rows), dtype=int)
        points[t] = (rows, labels, phrase_sample(labels, seed))
    wanted = sorted({int(r) for rows, _, pos in points.values() for r in rows[pos]})
    phrases = dict(zip(wanted, noun_phrases([safe_texts[i] for i in wanted]), strict=True))
    records = []
    for t, (rows, labels, pos) in points.items():
        ranked = rank_phrases([phrases[i] for i in rows[pos]], labels[pos])
        used: set[str] = set()
        for c, top in enumerate(ranked):
            label = label_of(top)
            if label in used:  # two points led by the same phrase: name this one by its others
                label = label_of([p for p in top[1:] if p not in label.lower()] or top)
            if label in used:
                label = f"{label} (other comments)"
            used.add(label)
            members = rows[labels == c]
            quote = _quotes(members, x, frame["text"], flagged, ids, set(banned), qcfg, 1)
            records.append(
                {
                    "theme_id": t,
                    "point": c + 1,
                    "label": label,
                    "n": len(members),
                    "keyphrases": top,
                    "quote": quote[0][1] if quote else "",
                    "quote_id": quote[0][0] if quote else "",
                    "ids": ids.iloc[members].tolist(),
                }
            )
    return pd.DataFrame(records, columns=KP_COLUMNS)


def draft_paragraph(points: pd.DataFrame, theme_name: str = "") -> str:
    """'Comments most often raised X (n), then Y (n) and Z (n).' from a theme's key points."""
    if points.empty:
        return ""
    parts = [
        f"{r.label[0].lower() + r.label[1:]} ({r.n})"
        for r in points.sort_values(["n", "point"], ascending=[False, True]).itertuples()
    ]
    head = (
        f"Comments on {theme_name.lower()} most often raised"
        if theme_name
        else ("Comments most often raised")
    )
    if len(parts) == 1:
        return f"{head} {parts[0]}."
    rest = parts[1:4]
    tail = rest[0] if len(rest) == 1 else ", ".join(rest[:-1]) + f" and {rest[-1]}"
    more = f"; {len(parts) - 4} smaller points besides" if len(parts) > 4 else ""
    return f"{head} {parts[0]}, then {tail}{more}."


def drafts(points: pd.DataFrame, names: dict[str, str]) -> dict[str, str]:
    """Theme id -> draft paragraph, for every theme with key points."""
    return {
        t: draft_paragraph(g, names.get(t, "")) for t, g in points.groupby("theme_id", sort=False)
    }


def emerging(
    frame: pd.DataFrame,
    theme_ids: Sequence[str],
    embeddings: np.ndarray | None,
    qcfg: QuoteConfig,
    safe_texts: Sequence[str],
    *,
    banned: set[str] | frozenset[str] = frozenset(),
    seed: int = 42,
    min_share: float = 0.02,
    min_size: int = 5,
    n_quotes: int = 3,
) -> pd.DataFrame:
    """Groups (`topic_groups`) of substantive comments coded to no theme, of at least
    max(min_size, min_share of the substantive comments), largest first (EM_COLUMNS), named from
    `safe_texts` as key points are; empty without embeddings."""
    sub = frame["substantive"].to_numpy(bool)
    uncoded = sub & ~frame[[code_col(t) for t in theme_ids]].to_numpy().any(axis=1)
    rows = np.flatnonzero(uncoded)
    floor = max(min_size, math.ceil(min_share * int(sub.sum())))
    x = _unit(embeddings, len(frame))
    if x is None or len(rows) < floor:
        return pd.DataFrame(columns=EM_COLUMNS)
    groups = topic_groups(x[rows], seed=seed)
    kept = int((np.bincount(groups[groups >= 0], minlength=1) >= floor).sum())  # largest first
    if not kept:
        return pd.DataFrame(columns=EM_COLUMNS)
    # the comments in no group of a useful size are one more "cluster", so that a group's phrases
    # are ranked by how distinctive they are against the whole pool
    labels = np.where((groups >= 0) & (groups < kept), groups, kept)
    pos = phrase_sample(labels, seed)
    ranked = rank_phrases(noun_phrases([safe_texts[i] for i in rows[pos]]), labels[pos])
    flagged = _flagged(frame, qcfg.personal_data_column)
    ids = frame["id"].astype(str)
    records = []
    for c, top in enumerate(ranked[:kept]):
        members = rows[labels == c]
        quotes = _quotes(members, x, frame["text"], flagged, ids, set(banned), qcfg, n_quotes)
        records.append(
            {
                "cluster": c + 1,
                "label": label_of(top),
                "n": len(members),
                "keyphrases": top,
                "quotes": [q for _, q in quotes],
                "ids": ids.iloc[members].tolist(),
            }
        )
    return pd.DataFrame(records, columns=EM_COLUMNS)


def emerging_json(table: pd.DataFrame, n_examples: int = 10) -> list[dict]:
    """reports/emerging.json: what `codebook promote` reads (no comment text, only ids)."""
    return [
        {
            "cluster": int(r.cluster),
            "label": r.label,
            "size": int(r.n),
            "keyphrases": list(r.keyphrases),
            "example_ids": list(r.ids)[:n_examples],
        }
        for r in table.itertuples()
    ]


def slug_of(label: str) -> str:
    """A theme id from a label: lower-case words joined by underscores, at most five."""
    words = re.findall(r"[a-z0-9]+", label.lower())
    return "_".join(words[:5]) or "new_theme"
