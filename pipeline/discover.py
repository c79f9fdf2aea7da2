"""Theme discovery: BERTopic on the cached embeddings, seeded with the codebook as zero-shot topics.

Comments close enough to a codebook theme's prompt are assigned to that theme; the rest are
reduced with UMAP and clustered with HDBSCAN, so clusters that match no theme become candidates
for new themes. A new question has no codebook: then every cluster is new, and
`discovery_report.starter_codebook` drafts a first codebook from them. Everything is seeded:
the same comments, codebook and seed give the same topics.

`discover` is a short recipe of pure steps: select_comments -> score_themes ->
fit_comment_topics -> centroid_similarity -> name_topics -> describe_topics -> assign_comments ->
pick_candidates -> roll_up -> summarise. Every count in the summary is read off the roll-up (one
row per codebook theme, then new topics and outliers), so no two numbers can disagree.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook, Theme
from pipeline.errors import YousaidError
from pipeline.settings import DiscoverSettings

log = logging.getLogger(__name__)

MIN_COMMENTS = 20  # below this, UMAP and HDBSCAN have nothing to find
NEW = "new"


@dataclass
class Discovery:
    """Tidy results: topics, their example comments, each comment's topic, the topics rolled up
    per codebook theme, and a summary read off that roll-up."""

    topics: pd.DataFrame
    examples: pd.DataFrame  # topic, rank, id, text
    assignments: pd.DataFrame
    candidates: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    themes: pd.DataFrame = field(default_factory=pd.DataFrame)  # see THEME_COLUMNS


# what an analyst needs to decide on a new theme, in the order the workbook shows it
CANDIDATE_COLUMNS = [
    "topic",
    "suggested_id",
    "suggested_name",
    "size",
    "share",
    "phrases",
    "keywords",
    "nearest_theme",
    "nearest_theme_share",
    "cohesion",
    "representative_ids",
]


# the roll-up: one row per codebook theme (kind "codebook"), then one "new" and one "outliers" row
THEME_COLUMNS = ["theme_id", "theme", "kind", "topics", "comments", "share", "topic_ids", "labels"]
PHRASE_SAMPLE = 100  # comments parsed per topic for keyphrases: naming cost stays bounded


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
    """BERTopic with codebook prompts (if any) as zero-shot topics; topics before/after outliers."""
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
        # the model only embeds the prompts; without any, it must not change the keywords
        # (BERTopic orders some keywords differently when it has one)
        embedding_model=embedding_model if prompts else None,
        umap_model=umap_model,
        hdbscan_model=cluster_model,
        vectorizer_model=keyword_vectorizer(settings.stop_words),
        zeroshot_topic_list=prompts or None,  # no codebook: every topic comes from clustering
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


def _seed_terms(themes: list[Theme], extra_stop_words: tuple[str, ...]) -> list[set[str]]:
    """Each theme's seed phrases as keyword lemmas ("fly-tipping" -> "fly tip"), per theme."""
    from pipeline.keywords import KeywordTokenizer

    tokenize = KeywordTokenizer(extra_stop_words)
    return [
        {" ".join(tokens) for tokens in tokenize.many(list(theme.seeds)) if tokens}
        for theme in themes
    ]


def _match_theme(
    topic: int,
    members: np.ndarray,
    scores: ThemeScores,
    keywords: list[str],
    seed_terms: list[set[str]],
    themes: list[Theme],
    settings: DiscoverSettings,
) -> tuple[int, str, str, float, float]:
    """Which codebook theme a topic stands for, and why; "new" when none can be argued.

    A topic is a theme when most of its comments were zero-shot assigned to it, or when a good
    share of its comments are nearest that theme's prompt and a top keyword is one of its seeds.
    """
    if not themes:  # no codebook: nothing to match, every real topic is new
        return -1, "" if topic == -1 else NEW, "outliers" if topic == -1 else "none", 0.0, 0.0
    size = len(members)
    best_theme = scores.best[members]
    votes = np.bincount(best_theme, minlength=len(themes)) / size
    nearest = int(votes.argmax())
    zs_votes = np.bincount(best_theme[scores.zeroshot[members]], minlength=len(themes)) / size
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


def topic_name(name: str, keywords: str, topic: int) -> str:
    """The keyphrase name when there is one; else the keyword name (no phrase in 2 comments)."""
    return name or _name(_split(keywords), topic)


def topic_slug(phrases: str, keywords: str, taken: set[str], name: str = "") -> str:
    """An unused id from the phrase that leads the topic's name, or from its keywords when it has
    no keyphrase (a phrase never holds "and": it is a stop word)."""
    if not _split(phrases):
        return _slug(_split(keywords), taken)
    lead = name.lower().split(" and ")[0] if name else _split(phrases)[0]
    return _slug([lead], taken)


# --- the recipe's steps: pure functions over frames and arrays ---------------------------


@dataclass(frozen=True)
class Selection:
    """The substantive comments, and the different texts among them that get clustered."""

    frame: pd.DataFrame  # id (str) and text of the substantive comments, in input order
    texts: list[str]
    named: list[str]  # what topics are named from: `texts`, with personal data cut out if known
    vectors: np.ndarray  # unit-length embeddings, row-aligned with `frame`
    first: np.ndarray  # row of each different text's first copy
    copy_of: np.ndarray  # row -> position in `first` of the row's text
    excluded: int  # non-substantive comments left out

    def spread(self, per_text: Any) -> np.ndarray:
        """Values found once per different text, given to every copy of that text."""
        return np.asarray(per_text)[self.copy_of]


@dataclass(frozen=True)
class ThemeScores:
    """How close each comment is to each codebook theme's prompt, before any clustering."""

    prompts: list[str]
    best: np.ndarray  # index of the nearest theme's prompt (-1: no codebook)
    similarity: np.ndarray  # cosine to that prompt (NaN: no codebook)
    zeroshot: np.ndarray  # close enough to join that theme zero-shot


@dataclass(frozen=True)
class TopicFit:
    """Every comment's topic before and after outlier reduction, and each topic's keywords."""

    before: np.ndarray
    after: np.ndarray
    keywords: dict[int, list[str]]


def select_comments(
    comments: pd.DataFrame, embeddings: np.ndarray, safe_texts: Sequence[str] | None = None
) -> Selection:
    """Substantive comments with unit vectors; identical texts are found so they cluster once.

    Hundreds of copies of one answer ("Very good.") would otherwise make clusters of their own.
    `safe_texts` (row-aligned with `comments`): the texts with personal data cut out.
    """
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
    texts = frame["text"].astype(str).tolist()
    if safe_texts is None:
        named = texts
    elif len(safe_texts) != len(comments):
        raise ValueError(f"{len(safe_texts)} safe texts for {len(comments)} comments")
    else:
        named = [str(t) for t, k in zip(safe_texts, keep, strict=True) if k]
    keys = pd.Series([" ".join(t.casefold().split()) for t in texts])
    is_first = ~keys.duplicated()
    first = np.flatnonzero(is_first.to_numpy())
    copy_of = pd.Series(np.arange(len(first)), index=keys[is_first]).loc[keys].to_numpy()
    if len(first) < MIN_COMMENTS:
        raise YousaidError(
            f"discovery needs at least {MIN_COMMENTS} different substantive comments, "
            f"got {len(first)}"
        )
    vectors = _normalise(np.array(embeddings, dtype=np.float32, copy=True)[keep])
    return Selection(frame, texts, named, vectors, first, copy_of, int((~keep).sum()))


def score_themes(
    vectors: np.ndarray, themes: list[Theme], embedding_model: Any, min_similarity: float
) -> ThemeScores:
    """Each comment's nearest theme prompt; with no codebook there is nothing to be near."""
    n = len(vectors)
    if not themes:
        return ThemeScores([], np.full(n, -1), np.full(n, np.nan, np.float32), np.zeros(n, bool))
    prompts = [t.prompt for t in themes]
    encoded = embedding_model.encode(prompts, normalize_embeddings=True, show_progress_bar=False)
    doc_theme = vectors @ _normalise(np.asarray(encoded)).T  # comment x theme cosine
    similarity = doc_theme.max(axis=1)
    return ThemeScores(prompts, doc_theme.argmax(axis=1), similarity, similarity >= min_similarity)


def fit_comment_topics(
    chosen: Selection,
    prompts: list[str],
    embedding_model: Any,
    settings: DiscoverSettings,
    seed: int,
) -> TopicFit:
    """BERTopic over the different texts; every copy of a text then gets that text's topic.

    The clusters come from the embeddings; the texts given are only what c-TF-IDF draws the
    keywords from, so they are the ones with personal data cut out.
    """
    before, after, model = fit_topics(
        [chosen.named[i] for i in chosen.first],
        chosen.vectors[chosen.first],
        prompts,
        embedding_model,
        settings,
        seed,
    )
    after = chosen.spread(after)
    keywords = {
        topic: [w for w, _ in (model.get_topic(topic) or []) if w][: settings.n_keywords]
        for topic in sorted(set(after.tolist()))
    }
    return TopicFit(chosen.spread(before), after, keywords)


def centroid_similarity(vectors: np.ndarray, topics: np.ndarray) -> np.ndarray:
    """Each comment's cosine to its topic's centre: low at a topic's edge or in a mixed topic."""
    similarity = np.zeros(len(topics), dtype=np.float32)
    for topic in sorted(set(topics.tolist())):
        members = np.flatnonzero(topics == topic)
        centroid = _normalise(vectors[members].mean(axis=0, keepdims=True))[0]
        similarity[members] = vectors[members] @ centroid
    return similarity


def pick_examples(
    members: np.ndarray, closeness: np.ndarray, texts: list[str], n: int
) -> list[int]:
    """The n members nearest the topic's centre, one per text, so no answer is shown twice."""
    order = sorted(members.tolist(), key=lambda row: (-float(closeness[row]), row))
    shown: list[int] = []
    seen: set[str] = set()
    for row in order:
        key = texts[row].casefold()
        if key not in seen:
            seen.add(key)
            shown.append(row)
            if len(shown) == n:
                break
    return shown


def name_topics(
    chosen: Selection, fit: TopicFit, closeness: np.ndarray, settings: DiscoverSettings
) -> dict[int, list[tuple[str, int]]]:
    """Each topic's keyphrases (noun phrases its comments share) and how many comments use them.

    Only the different texts nearest each topic's centre are parsed (PHRASE_SAMPLE a topic), so
    naming costs the same at 1,000 or 100,000 comments. The outlier group is parsed too: its
    phrases are the background that makes a topic's own phrases distinctive.
    """
    from pipeline.keyphrases import topic_phrases

    texts: dict[int, list[str]] = {}
    for topic in fit.keywords:
        rows = chosen.first[fit.after[chosen.first] == topic]
        rows = sorted(rows.tolist(), key=lambda r: (-float(closeness[r]), r))[:PHRASE_SAMPLE]
        texts[topic] = [chosen.named[r] for r in rows]
    return topic_phrases(texts, settings.stop_words)


def describe_topics(
    chosen: Selection,
    fit: TopicFit,
    closeness: np.ndarray,
    scores: ThemeScores,
    themes: list[Theme],
    settings: DiscoverSettings,
    phrases: dict[int, list[tuple[str, int]]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per topic (the outlier group -1 included) and its example comments.

    `name` is the topic's own name from its keyphrases (keywords when none is shared by two
    comments); `label` is the codebook theme's name for a matched topic, else that name.
    """
    from pipeline.keyphrases import phrase_name

    phrases = phrases or {}
    seed_terms = _seed_terms(themes, settings.stop_words)
    ids = chosen.frame["id"]
    n = len(chosen.frame)
    topic_rows, example_rows = [], []
    for topic, keywords in fit.keywords.items():
        members = np.flatnonzero(fit.after == topic)
        theme_idx, theme_id, matched_by, zs_share, vote_share = _match_theme(
            topic, members, scores, keywords, seed_terms, themes, settings
        )
        shown = pick_examples(members, closeness, chosen.texts, settings.n_examples)
        example_rows += [
            {"topic": topic, "rank": rank, "id": ids[row], "text": chosen.texts[row]}
            for rank, row in enumerate(shown, start=1)
        ]
        own = phrases.get(topic, [])
        name = topic_name(phrase_name(own), ", ".join(keywords), topic)
        if theme_id and theme_id != NEW:
            label = themes[theme_idx].name
        elif topic == -1:
            label = "Outliers (no topic)"
        else:
            label = name
        topic_rows.append(
            {
                "topic": topic,
                "label": label,
                "name": name,
                "size": len(members),
                "share": round(len(members) / n, 4),
                "theme_id": theme_id,
                "matched_by": matched_by,
                "nearest_theme": themes[theme_idx].id if themes else "",
                "nearest_theme_share": round(vote_share, 4),
                "zeroshot_share": round(zs_share, 4),
                "cohesion": round(float(closeness[members].mean()), 4),  # low: a mixed cluster
                "keywords": ", ".join(keywords),
                "phrases": ", ".join(p for p, _ in own),
                "representative_ids": "|".join(ids[row] for row in shown),
            }
        )
    examples = pd.DataFrame(example_rows, columns=["topic", "rank", "id", "text"])
    return pd.DataFrame(topic_rows), examples


def assign_comments(
    chosen: Selection,
    fit: TopicFit,
    closeness: np.ndarray,
    topics: pd.DataFrame,
    scores: ThemeScores,
    themes: list[Theme],
) -> pd.DataFrame:
    """Each comment's topic, the codebook theme it stands for, and how it got there."""
    how = np.where(
        fit.after == -1,
        "outlier",
        np.where(
            fit.before == -1,
            "outlier reassigned",
            np.where(scores.zeroshot, "zero-shot", "cluster"),
        ),
    )
    labels = dict(zip(topics["topic"], topics["label"], strict=True))
    theme_of = dict(zip(topics["topic"], topics["theme_id"], strict=True))
    return pd.DataFrame(
        {
            "id": chosen.frame["id"],
            "topic": fit.after,
            "topic_label": [labels[t] for t in fit.after],
            "theme_id": [theme_of[t] for t in fit.after],
            "assigned_by": how,
            "similarity_to_topic": np.round(closeness, 4),
            "best_theme": [themes[i].id if i >= 0 else "" for i in scores.best],
            "best_theme_similarity": np.round(scores.similarity, 4),
            "text": chosen.texts,
        }
    )


def pick_candidates(topics: pd.DataFrame, taken: set[str], min_size: int) -> pd.DataFrame:
    """New topics big enough for an analyst's look, with an unused id and a readable name."""
    taken = set(taken)
    new = topics[(topics["theme_id"] == NEW) & (topics["size"] >= min_size)].copy()
    new["suggested_id"] = [
        topic_slug(p, k, taken, n)
        for p, k, n in zip(new["phrases"], new["keywords"], new["name"], strict=True)
    ]
    new["suggested_name"] = new["name"]
    return new[CANDIDATE_COLUMNS].reset_index(drop=True)


def roll_up(topics: pd.DataFrame, themes: list[Theme], n_comments: int) -> pd.DataFrame:
    """Topics per codebook theme: one row per theme (found or not), then new topics, outliers.

    One theme often comes out as several topics; analysts read the themes first, and every
    count the summary gives is a sum over this table.
    """

    def row(theme_id: str, theme: str, kind: str, group: pd.DataFrame) -> dict[str, Any]:
        size = int(group["size"].sum())
        return {
            "theme_id": theme_id,
            "theme": theme,
            "kind": kind,
            "topics": len(group) if kind != "outliers" else 0,
            "comments": size,
            "share": round(size / n_comments, 4) if n_comments else 0.0,
            "topic_ids": ", ".join(str(t) for t in group["topic"]),
            "labels": "; ".join(group[names].astype(str)) if kind != "outliers" else "",
        }

    names = "name" if "name" in topics else "label"
    real = topics[topics["topic"] != -1].sort_values(["size", "topic"], ascending=[False, True])
    rows = [row(t.id, t.name, "codebook", real[real["theme_id"] == t.id]) for t in themes]
    rows.append(row(NEW, "New topics (no codebook theme)", "new", real[real["theme_id"] == NEW]))
    rows.append(row("", "Outliers (no topic)", "outliers", topics[topics["topic"] == -1]))
    return pd.DataFrame(rows, columns=THEME_COLUMNS)


def summarise(
    chosen: Selection,
    fit: TopicFit,
    rolled: pd.DataFrame,
    candidates: pd.DataFrame,
    scores: ThemeScores,
    settings: DiscoverSettings,
    seed: int,
) -> dict[str, Any]:
    """The numbers a reader checks first, all read off the roll-up; with no codebook, 0 codebook
    themes and none found."""
    book = rolled[rolled["kind"] == "codebook"]
    new = rolled[rolled["kind"] == NEW]
    different = len(chosen.first)
    return {
        "comments": int(rolled["comments"].sum()),
        "excluded_non_substantive": chosen.excluded,
        "topics": int(book["topics"].sum() + new["topics"].sum()),
        "codebook_topics": int(book["topics"].sum()),
        "new_topics": int(new["topics"].sum()),
        "candidates": int(len(candidates)),
        "codebook_themes": len(book),
        "themes_recovered": book.loc[book["topics"] > 0, "theme_id"].tolist(),
        "themes_not_found": book.loc[book["topics"] == 0, "theme_id"].tolist(),
        "zeroshot_assigned_share": round(float(scores.zeroshot.mean()), 4),
        "outlier_share_before_reduction": round(float(np.mean(fit.before == -1)), 4),
        "outlier_share": float(rolled.loc[rolled["kind"] == "outliers", "share"].sum()),
        "different_texts": different,
        "min_topic_size": settings.cluster_size(different),
        "min_samples": settings.samples(different),
        "candidate_min_size": settings.candidate_size(different),
        "seed": seed,
    }


def discover(
    comments: pd.DataFrame,
    embeddings: np.ndarray,
    codebook: Codebook | None = None,
    embedding_model: Any = None,
    settings: DiscoverSettings | None = None,
    seed: int = 42,
    safe_texts: Sequence[str] | None = None,
) -> Discovery:
    """Topics among the substantive comments, each matched to a codebook theme or marked new.

    `embeddings` is row-aligned with `comments` (all rows). With a codebook, `embedding_model`
    must be the model that made them: it embeds the theme prompts into the same space. Without
    one (a new question), every topic is new and a starter codebook can be drafted from them.
    `safe_texts` (row-aligned too, `pipeline.privacy.without_personal_data`): what topic names,
    keywords and phrases are drawn from, since they are shown like quotes; spaCy's name filter
    alone lets surnames and streets through.
    """
    settings = settings or DiscoverSettings()
    themes = list(codebook.themes) if codebook is not None else []
    if themes and embedding_model is None:
        raise YousaidError("discovery with a codebook needs the embedding model for its prompts")
    chosen = select_comments(comments, embeddings, safe_texts)
    scores = score_themes(chosen.vectors, themes, embedding_model, settings.zeroshot_min_similarity)
    log.info(
        "discovering topics in %d substantive comments (%d different texts, %d codebook themes, "
        "seed %d)",
        len(chosen.frame),
        len(chosen.first),
        len(themes),
        seed,
    )
    fit = fit_comment_topics(chosen, scores.prompts, embedding_model, settings, seed)
    closeness = centroid_similarity(chosen.vectors, fit.after)
    phrases = name_topics(chosen, fit, closeness, settings)
    topics, examples = describe_topics(chosen, fit, closeness, scores, themes, settings, phrases)
    assignments = assign_comments(chosen, fit, closeness, topics, scores, themes)
    min_candidate = settings.candidate_size(len(chosen.first))
    candidates = pick_candidates(topics, {t.id for t in themes}, min_candidate)
    rolled = roll_up(topics, themes, len(chosen.frame))
    summary = summarise(chosen, fit, rolled, candidates, scores, settings, seed)
    log.info(
        "discovery: %d topics (%d codebook, %d new), %d candidates, outliers %.1f%% -> %.1f%%",
        summary["topics"],
        summary["codebook_topics"],
        summary["new_topics"],
        summary["candidates"],
        100 * summary["outlier_share_before_reduction"],
        100 * summary["outlier_share"],
    )
    return Discovery(topics, examples, assignments, candidates, summary, rolled)
