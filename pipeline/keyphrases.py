"""Keyphrases that name a topic: lemmatised noun phrases its comments share, ranked by c-TF-IDF.

Keyword salads ("Met good and woman", "Car and park") mix words of different comments and pick up
sarcasm ("SO good"). A noun phrase ("car meet", "catalytic converter") is something people said;
a phrase that many of a topic's comments contain, and that few other topics use, names the topic.
Noun chunks come from spaCy's official small English model (the one redaction loads, offline);
without it there are no phrases and names fall back to keywords.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache

from pipeline.keywords import CASED_EXCEPTIONS, LEMMA_EXCEPTIONS, lemma_of, stop_words

log = logging.getLogger(__name__)

# Words that judge rather than name ("so good", "great idea", "real problem"): dropped from phrases.
EVALUATIVE = frozenset(
    "good bad great better best worse worst nice excellent brilliant terrible awful poor "
    "so really very real big huge little small lot lots much many more most less few "
    "main major important serious proper massive whole general overall current other "
    "same different new old certain particular actual total absolute clear "
    "thing things stuff way kind sort bit".split()
)
# Words every consultation answer uses: no phrase on its own ("people", "the plan"), though
# they tell a longer one apart ("young people", "response time").
GENERIC = frozenset("people person time plan year day place area problem issue lot".split())
MAX_WORDS = 3  # the head end of a longer chunk: "the very slow police response time" -> 3 words
MIN_COMMENTS = 2  # a phrase one person used names no topic


@lru_cache(maxsize=1)
def phrase_nlp():
    """The small English model (parser for noun chunks, NER for names), or None if missing."""
    import spacy

    from pipeline.privacy.engine import MODEL, ModelMissing, _check_model

    try:
        _check_model()
    except ModelMissing as err:
        log.warning("keyphrases: %s; topic names fall back to keywords", err)
        return None
    return spacy.load(MODEL)


def _lemma(token) -> str:
    """Nouns as lemmas ("stations" -> "station"); other words as written ("modified car")."""
    if token.text in CASED_EXCEPTIONS:
        return CASED_EXCEPTIONS[token.text]
    low = token.lower_
    if token.pos_ == "PROPN":  # spaCy leaves these as written: "Speed Cameras" -> "camera"
        return lemma_of(token.text)
    if token.pos_ != "NOUN":
        return low
    return LEMMA_EXCEPTIONS.get(low) or token.lemma_.lower()


def _private(token) -> bool:
    """A person's name ("Janet Oduya"): topic names are shown to readers and must name no one."""
    return token.ent_type_ == "PERSON" and token.text not in CASED_EXCEPTIONS


def _words(tokens, stops: frozenset[str]) -> str:
    """Tokens as a phrase without stop words, evaluative words or numbers; "" if only generic."""
    words: list[str] = []
    for token in tokens:
        if not token.is_alpha or token.pos_ in {"PRON", "DET", "NUM", "ADV", "PART"}:
            continue
        if _private(token):
            continue
        lemma = _lemma(token)
        if len(lemma) < 2 or token.lower_ in stops or lemma in stops or lemma in EVALUATIVE:
            continue
        if not words or words[-1] != lemma:
            words.append(lemma)
    words = words[-MAX_WORDS:]
    return "" if set(words) <= GENERIC else " ".join(words)


def chunk_phrase(chunk, stops: frozenset[str]) -> str:
    """A noun chunk as a lemmatised phrase, with the hyphenated word it starts in ("fly-tipping")."""
    doc, start = chunk.doc, chunk.start
    while start >= 2 and _hyphen(doc[start - 1]):
        start -= 2
    return _words(doc[start : chunk.end], stops)


def _hyphen(token) -> bool:
    """A hyphen joining two words with no space ("fly-tipping"), which spaCy splits in three."""
    if token.text != "-" or token.whitespace_ or token.i == 0 or token.i + 1 >= len(token.doc):
        return False
    before, after = token.doc[token.i - 1], token.doc[token.i + 1]
    return not before.whitespace_ and before.is_alpha and after.is_alpha


def _compounds(doc, stops: frozenset[str]) -> set[str]:
    """Hyphenated words ("fly-tipping", "e-scooters") as phrases, whatever they were tagged."""
    found = set()
    for token in doc:
        if _hyphen(token):
            end = token.i + 2
            while end + 1 < len(doc) and _hyphen(doc[end]):
                end += 2
            start = token.i - 1
            while start >= 2 and _hyphen(doc[start - 1]):
                start -= 2
            if any(_private(t) for t in doc[start:end]):
                continue
            words = [t.lower_ for t in doc[start : end - 1] if t.is_alpha]
            phrase = " ".join([*words, _lemma(doc[end - 1])])
            if not set(phrase.split()) <= stops | GENERIC:
                found.add(phrase)
    return found


def comment_phrases(
    texts: Sequence[str], extra_stop_words: Sequence[str] = (), batch_size: int = 128
) -> list[set[str]] | None:
    """Each text's distinct noun phrases; None when the model is not installed."""
    nlp = phrase_nlp()
    if nlp is None:
        return None
    from pipeline.workers import spacy_workers

    stops = stop_words(extra_stop_words) | EVALUATIVE
    unique = list(dict.fromkeys(texts))  # each distinct text is parsed once
    found = {}
    docs = nlp.pipe(unique, batch_size=batch_size, n_process=spacy_workers(len(unique)))
    for text, doc in zip(unique, docs, strict=True):
        chunks = {p for chunk in doc.noun_chunks if (p := chunk_phrase(chunk, stops))}
        found[text] = chunks | _compounds(doc, stops)
    return [found[t] for t in texts]


def rank_phrases(
    phrases_by_topic: Mapping[int, Sequence[set[str]]], n: int = 5, min_comments: int = MIN_COMMENTS
) -> dict[int, list[tuple[str, int]]]:
    """Each topic's phrases with how many of its comments contain them, most distinctive first.

    Only phrases in at least `min_comments` comments count. Score: the share of the topic's
    comments that contain the phrase (how many say it) times a class idf over topics,
    log((1 + topics) / (1 + topics using it)) (how much it tells this topic apart). A phrase of
    more than half the topics (of every topic, when there are fewer than 4) is left out: "officer"
    in a policing consultation names no topic.
    A multi-word phrase replaces its own head word when at least half as common ("knife crime"
    over "knife"), because it says what about it.
    """
    counts = {t: Counter(p for ps in rows for p in ps) for t, rows in phrases_by_topic.items()}
    spread: Counter[str] = Counter()
    for c in counts.values():
        spread.update(c.keys())
    n_topics = len(counts)
    common = n_topics // 2 if n_topics >= 4 else n_topics - 1  # more: the phrase names no topic
    ranked: dict[int, list[tuple[str, int]]] = {}
    for topic, c in counts.items():
        size = max(1, len(phrases_by_topic[topic]))
        score = {
            p: (k / size) * math.log((1 + n_topics) / (1 + spread[p]))
            for p, k in c.items()
            if k >= min_comments and spread[p] <= common
        }
        chosen: list[str] = []
        for p in sorted(score, key=lambda p: (-score[p], -c[p], p)):
            words = set(p.split())
            inside = [q for q in chosen if set(q.split()) < words]
            if inside and c[p] * 2 >= c[inside[0]]:
                chosen[chosen.index(inside[0])] = p
                continue
            if any(words & set(q.split()) for q in chosen):
                continue  # shares a word with a phrase already in: says little new
            if len(chosen) < n:
                chosen.append(p)
        ranked[topic] = [(p, c[p]) for p in chosen]
    return ranked


def phrase_name(phrases: Sequence[tuple[str, int]]) -> str:
    """A name: "Knife crime", or "Car and bike" when both are common.

    The most used of the three most distinctive phrases leads (a distinctive phrase two people
    used names less than one ten people used); a second joins it only when nearly as common
    ("Response time and joke" would name one comment).
    """
    if not phrases:
        return ""
    top = sorted(phrases[:3], key=lambda pk: -pk[1])  # stable: rank breaks ties
    (first, k), rest = top[0], top[1:2]
    words = [first] + [p for p, j in rest if j * 3 >= k * 2 and j >= 3]
    return " and ".join(words).capitalize()


def topic_phrases(
    texts_by_topic: Mapping[int, Sequence[str]], extra_stop_words: Sequence[str] = (), n: int = 5
) -> dict[int, list[tuple[str, int]]]:
    """Each topic's top keyphrases and their comment counts ({} without the model)."""
    topics = list(texts_by_topic)
    flat = [t for topic in topics for t in texts_by_topic[topic]]
    parsed = comment_phrases(flat, extra_stop_words)
    if parsed is None:
        return {}
    by_topic: dict[int, list[set[str]]] = {}
    start = 0
    for topic in topics:
        k = len(texts_by_topic[topic])
        by_topic[topic] = parsed[start : start + k]
        start += k
    return rank_phrases(by_topic, n)
