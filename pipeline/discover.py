"""Theme discovery: BERTopic on the cached embeddings, seeded with the codebook as zero-shot topics.

Comments close enough to a codebook theme's prompt are assigned to that theme; the rest are
reduced with UMAP and clustered with HDBSCAN, so clusters that match no theme become candidates
for new themes. Everything is seeded: the same comments, codebook and seed give the same topics.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook
from pipeline.errors import YousaidError

log = logging.getLogger(__name__)

MIN_COMMENTS = 20  # below this, UMAP and HDBSCAN have nothing to find
NEW = "new"


@dataclass(frozen=True)
class DiscoverSettings:
    """The `discover:` section of params.yaml; "auto" sizes scale with the number of comments."""

    min_topic_size: int | str = "auto"  # HDBSCAN min_cluster_size
    min_samples: int | str = "auto"  # HDBSCAN min_samples (smaller: fewer outliers)
    zeroshot_min_similarity: float = 0.4  # comment-to-theme-prompt cosine to join a codebook theme
    # A cluster is a codebook theme when this share of it was zero-shot assigned to the theme,
    # or when seed_match_share of it is nearest the theme and a top keyword is one of its seeds.
    theme_match_share: float = 0.5
    seed_match_share: float = 0.4
    cluster_selection: str = "leaf"  # HDBSCAN: "leaf" (finer) or "eom" (may lump the rest together)
    max_topic_share: float = 0.2  # no cluster may hold more than this share of the comments
    reduce_outliers: bool = True
    outlier_similarity: float = 0.6  # outlier-to-topic cosine needed to reassign an outlier
    umap_neighbors: int = 15
    umap_components: int = 5
    n_keywords: int = 10
    n_examples: int = 5
    candidate_min_size: int | str = "auto"  # smallest cluster worth an analyst's look
    stop_words: tuple[str, ...] = ()  # consultation-specific words to leave out of keywords

    @classmethod
    def from_params(cls, cfg: Mapping[str, Any] | None) -> DiscoverSettings:
        cfg = {k: v for k, v in (cfg or {}).items() if k != "out_dir"}  # out_dir is the CLI's
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise YousaidError(
                f"params.yaml discover: unknown keys {unknown} (known: {sorted(known)})"
            )
        if "stop_words" in cfg:
            cfg["stop_words"] = tuple(cfg["stop_words"] or ())
        return cls(**cfg)

    def cluster_size(self, n: int) -> int:
        """About half the square root of n: 11 for 500 comments, 35 for 5,000, at most 60."""
        if self.min_topic_size != "auto":
            return max(2, int(self.min_topic_size))
        return int(min(60, max(8, round(0.5 * math.sqrt(n)))))

    def samples(self, n: int) -> int:
        if self.min_samples != "auto":
            return max(1, int(self.min_samples))
        return max(2, self.cluster_size(n) // 2)

    def candidate_size(self, n: int) -> int:
        if self.candidate_min_size != "auto":
            return max(1, int(self.candidate_min_size))
        return max(self.n_examples, self.cluster_size(n))


@dataclass
class Discovery:
    """Tidy results: topics, their example comments, each comment's topic, and a summary."""

    topics: pd.DataFrame
    examples: pd.DataFrame  # topic, rank, id, text
    assignments: pd.DataFrame
    candidates: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


# what an analyst needs to decide on a new theme, in the order the workbook shows it
CANDIDATE_COLUMNS = [
    "topic",
    "suggested_id",
    "suggested_name",
    "size",
    "share",
    "keywords",
    "nearest_theme",
    "nearest_theme_share",
    "cohesion",
    "representative_ids",
]


def _split(keywords: str) -> list[str]:
    return [k for k in keywords.split(", ") if k]


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def fit_topics(
    texts: list[str],
    embeddings: np.ndarray,
    prompts: list[str],
    embedding_model: Any,
    settings: DiscoverSettings,
    seed: int,
) -> tuple[list[int], np.ndarray, Any]:
    """BERTopic with codebook prompts as zero-shot topics; returns topics before/after outliers."""
    from bertopic import BERTopic
    from hdbscan import HDBSCAN
    from umap import UMAP

    from pipeline.keywords import keyword_vectorizer

    n = len(texts)
    docs = [t + "\n" for t in texts]  # "\n" marks where c-TF-IDF's joined documents meet
    umap_model = UMAP(
        n_neighbors=max(2, min(settings.umap_neighbors, n - 1)),
        n_components=settings.umap_components,
        min_dist=0.0,
        metric="cosine",
        random_state=seed,
        transform_seed=seed,
    )
    cluster_model = HDBSCAN(
        min_cluster_size=settings.cluster_size(n),
        min_samples=settings.samples(n),
        metric="euclidean",
        cluster_selection_method=settings.cluster_selection,
        max_cluster_size=max(settings.cluster_size(n) + 1, int(settings.max_topic_share * n)),
        prediction_data=True,
    )
    model = BERTopic(
        embedding_model=embedding_model,
        umap_model=umap_model,
        hdbscan_model=cluster_model,
        vectorizer_model=keyword_vectorizer(settings.stop_words),
        zeroshot_topic_list=prompts,
        zeroshot_min_similarity=settings.zeroshot_min_similarity,
        top_n_words=settings.n_keywords,
        calculate_probabilities=False,
        verbose=False,
    )
    # BERTopic may change the array it is given in place: it always gets its own copy.
    topics, _ = model.fit_transform(
        docs, embeddings=np.array(embeddings, dtype=np.float32, copy=True)
    )
    before = np.asarray(topics, dtype=int)
    after = before.copy()
    non_outlier = set(before.tolist()) - {-1}
    if settings.reduce_outliers and (before == -1).any() and non_outlier:
        reduced = model.reduce_outliers(
            docs,
            before.tolist(),
            strategy="embeddings",
            embeddings=np.array(embeddings, dtype=np.float32, copy=True),
            threshold=settings.outlier_similarity,
        )
        after = np.asarray(reduced, dtype=int)
        if (after != before).any():
            model.update_topics(
                docs,
                topics=after.tolist(),
                vectorizer_model=keyword_vectorizer(settings.stop_words),
                top_n_words=settings.n_keywords,
            )
    return before.tolist(), after, model


def _seed_terms(codebook: Codebook, extra_stop_words: tuple[str, ...]) -> list[set[str]]:
    """Each theme's seed phrases as keyword lemmas ("fly-tipping" -> "fly tip"), per theme."""
    from pipeline.keywords import KeywordTokenizer

    tokenize = KeywordTokenizer(extra_stop_words)
    return [
        {" ".join(tokens) for tokens in tokenize.many(list(theme.seeds)) if tokens}
        for theme in codebook.themes
    ]


def _match_theme(
    topic: int,
    members: np.ndarray,
    best_theme: np.ndarray,
    zeroshot: np.ndarray,
    keywords: list[str],
    seed_terms: list[set[str]],
    themes: list,
    settings: DiscoverSettings,
) -> tuple[int, str, str, float, float]:
    """Which codebook theme a topic stands for, and why; "new" when none can be argued.

    A topic is a theme when most of its comments were zero-shot assigned to it, or when a good
    share of its comments are nearest that theme's prompt and a top keyword is one of its seeds.
    """
    size = len(members)
    votes = np.bincount(best_theme[members], minlength=len(themes)) / size
    nearest = int(votes.argmax())
    zs_votes = np.bincount(best_theme[members][zeroshot[members]], minlength=len(themes)) / size
    zs_theme = int(zs_votes.argmax())
    zs_share = float(zs_votes[zs_theme])
    if topic == -1:
        return nearest, "", "outliers", zs_share, float(votes[nearest])
    if zs_share >= settings.theme_match_share:
        return zs_theme, themes[zs_theme].id, "zero-shot", zs_share, float(votes[zs_theme])
    for t in np.argsort(-votes, kind="stable"):
        shared = [k for k in keywords if k in seed_terms[t]]
        if shared and votes[t] >= settings.seed_match_share:
            t = int(t)
            return t, themes[t].id, f"seed keyword '{shared[0]}'", zs_share, float(votes[t])
    return nearest, NEW, "none", zs_share, float(votes[nearest])


def _phrases(keywords: list[str], n: int = 2) -> list[str]:
    """The first n distinct keyword phrases, a bigram replacing the unigram it contains."""
    chosen: list[str] = []
    for phrase in keywords:
        words = set(phrase.split())
        if words <= {w for c in chosen for w in c.split()}:
            continue  # says nothing new
        inside = [c for c in chosen if set(c.split()) < words]
        if any(words & set(c.split()) for c in chosen if c not in inside):
            continue  # overlaps a chosen phrase without containing it
        if inside:
            chosen[chosen.index(inside[0])] = phrase
            chosen = [c for c in chosen if c not in inside[1:]]
        elif len(chosen) < n:
            chosen.append(phrase)
    return chosen[:n]


def _slug(keywords: list[str], taken: set[str]) -> str:
    phrases = _phrases(keywords, 2)[:1]  # the first phrase of the suggested name
    base = re.sub(r"[^a-z0-9]+", "_", phrases[0].lower()).strip("_") if phrases else ""
    base = base or "new_theme"
    if not base[0].isalpha():
        base = "t_" + base
    slug, k = base, 2
    while slug in taken:
        slug, k = f"{base}_{k}", k + 1
    taken.add(slug)
    return slug


def _name(keywords: list[str], topic: int) -> str:
    phrases = _phrases(keywords, 2)
    return " and ".join(phrases).capitalize() if phrases else f"Topic {topic}"


def discover(
    comments: pd.DataFrame,
    embeddings: np.ndarray,
    codebook: Codebook,
    embedding_model: Any,
    settings: DiscoverSettings | None = None,
    seed: int = 42,
) -> Discovery:
    """Topics among the substantive comments, each matched to a codebook theme or marked new.

    `embeddings` is row-aligned with `comments` (all rows); `embedding_model` must be the model
    that made them, since it embeds the theme prompts into the same space.
    """
    settings = settings or DiscoverSettings()
    if len(comments) != len(embeddings):
        raise YousaidError(
            f"{len(comments)} comments but {len(embeddings)} embeddings: run `yousaid embed` again"
        )
    keep = (
        comments["substantive"].to_numpy(bool)
        if "substantive" in comments
        else np.ones(len(comments), bool)
    )
    frame = comments.loc[keep, ["id", "text"]].reset_index(drop=True)
    frame["id"] = frame["id"].astype(str)
    vectors = _normalise(np.array(embeddings, dtype=np.float32, copy=True)[keep])
    n = len(frame)
    texts = frame["text"].astype(str).tolist()
    # Identical answers ("Very good.") are clustered once: hundreds of copies of one point would
    # otherwise make clusters of their own. Every copy then gets its text's topic.
    keys = pd.Series([" ".join(t.casefold().split()) for t in texts])
    first = ~keys.duplicated()
    unique_pos = np.flatnonzero(first.to_numpy())
    inverse = pd.Series(np.arange(len(unique_pos)), index=keys[first]).loc[keys].to_numpy()
    if len(unique_pos) < MIN_COMMENTS:
        raise YousaidError(
            f"discovery needs at least {MIN_COMMENTS} different substantive comments, "
            f"got {len(unique_pos)}"
        )

    themes = list(codebook.themes)
    prompts = [t.prompt for t in themes]
    prompt_vectors = _normalise(
        np.asarray(
            embedding_model.encode(prompts, normalize_embeddings=True, show_progress_bar=False)
        )
    )
    doc_theme = vectors @ prompt_vectors.T  # comment x theme cosine
    best_theme = doc_theme.argmax(axis=1)
    best_sim = doc_theme.max(axis=1)
    zeroshot = best_sim >= settings.zeroshot_min_similarity

    log.info(
        "discovering topics in %d substantive comments (%d different texts, seed %d)",
        n,
        len(unique_pos),
        seed,
    )
    unique_texts = [texts[i] for i in unique_pos]
    before_u, after_u, model = fit_topics(
        unique_texts, vectors[unique_pos], prompts, embedding_model, settings, seed
    )
    before_arr = np.asarray(before_u)[inverse]
    after = np.asarray(after_u)[inverse]

    # Describe each topic from its members; the outlier group (-1) is kept as a row of its own.
    seed_terms = _seed_terms(codebook, settings.stop_words)
    topic_rows, example_rows = [], []
    centroid_sim = np.zeros(n, dtype=np.float32)
    topic_theme: dict[int, str] = {}
    for topic in sorted(set(after.tolist())):
        members = np.flatnonzero(after == topic)
        centroid = _normalise(vectors[members].mean(axis=0, keepdims=True))[0]
        sims = vectors[members] @ centroid
        centroid_sim[members] = sims
        keywords = [w for w, _ in (model.get_topic(topic) or []) if w][: settings.n_keywords]
        theme_idx, theme_id, matched_by, zs_share, vote_share = _match_theme(
            topic, members, best_theme, zeroshot, keywords, seed_terms, themes, settings
        )
        topic_theme[topic] = theme_id
        order = sorted(range(len(members)), key=lambda i: (-float(sims[i]), int(members[i])))
        shown: list[int] = []
        seen_texts: set[str] = set()
        for i in order:
            text = texts[members[i]]
            if text.casefold() in seen_texts:
                continue
            seen_texts.add(text.casefold())
            shown.append(int(members[i]))
            if len(shown) == settings.n_examples:
                break
        for rank, row in enumerate(shown, start=1):
            example_rows.append(
                {"topic": topic, "rank": rank, "id": frame["id"][row], "text": texts[row]}
            )
        if theme_id and theme_id != NEW:
            label = themes[theme_idx].name
        elif topic == -1:
            label = "Outliers (no topic)"
        else:
            label = " / ".join(keywords[:3]) or f"topic {topic}"
        topic_rows.append(
            {
                "topic": topic,
                "label": label,
                "size": len(members),
                "share": round(len(members) / n, 4),
                "theme_id": theme_id,
                "matched_by": matched_by,
                "nearest_theme": themes[theme_idx].id,
                "nearest_theme_share": round(vote_share, 4),
                "zeroshot_share": round(zs_share, 4),
                "cohesion": round(float(sims.mean()), 4),  # low: a mixed cluster
                "keywords": ", ".join(keywords),
                "representative_ids": "|".join(frame["id"][r] for r in shown),
            }
        )
    topics = pd.DataFrame(topic_rows)
    examples = pd.DataFrame(example_rows, columns=["topic", "rank", "id", "text"])

    how = np.where(
        after == -1,
        "outlier",
        np.where(
            before_arr == -1, "outlier reassigned", np.where(zeroshot, "zero-shot", "cluster")
        ),
    )
    labels = dict(zip(topics["topic"], topics["label"], strict=True))
    assignments = pd.DataFrame(
        {
            "id": frame["id"],
            "topic": after,
            "topic_label": [labels[t] for t in after],
            "theme_id": [topic_theme[t] for t in after],
            "assigned_by": how,
            "similarity_to_topic": np.round(centroid_sim, 4),
            "best_theme": [themes[i].id for i in best_theme],
            "best_theme_similarity": np.round(best_sim, 4),
            "text": texts,
        }
    )

    min_candidate = settings.candidate_size(len(unique_pos))
    taken = set(codebook.ids)
    new = topics[(topics["theme_id"] == NEW) & (topics["size"] >= min_candidate)].copy()
    new["suggested_id"] = [_slug(_split(k), taken) for k in new["keywords"]]
    new["suggested_name"] = [
        _name(_split(k), t) for k, t in zip(new["keywords"], new["topic"], strict=True)
    ]
    candidates = new[CANDIDATE_COLUMNS].reset_index(drop=True)

    real = topics[topics["topic"] != -1]
    matched = real[(real["theme_id"] != NEW) & (real["size"] >= settings.n_examples)]
    recovered = [t for t in codebook.ids if t in set(matched["theme_id"])]
    summary = {
        "comments": n,
        "excluded_non_substantive": int((~keep).sum()),
        "topics": int(len(real)),
        "codebook_topics": int((real["theme_id"] != NEW).sum()),
        "new_topics": int((real["theme_id"] == NEW).sum()),
        "candidates": int(len(candidates)),
        "themes_recovered": recovered,
        "themes_not_found": [t for t in codebook.ids if t not in recovered],
        "zeroshot_assigned_share": round(float(zeroshot.mean()), 4),
        "outlier_share_before_reduction": round(float(np.mean(before_arr == -1)), 4),
        "outlier_share": round(float(np.mean(after == -1)), 4),
        "different_texts": int(len(unique_pos)),
        "min_topic_size": settings.cluster_size(len(unique_pos)),
        "min_samples": settings.samples(len(unique_pos)),
        "candidate_min_size": min_candidate,
        "seed": seed,
    }
    log.info(
        "discovery: %d topics (%d codebook, %d new), %d candidates, outliers %.1f%% -> %.1f%%",
        summary["topics"],
        summary["codebook_topics"],
        summary["new_topics"],
        summary["candidates"],
        100 * summary["outlier_share_before_reduction"],
        100 * summary["outlier_share"],
    )
    return Discovery(topics, examples, assignments, candidates, summary)
