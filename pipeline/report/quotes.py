"""Choosing quotes that are typical of a theme, varied, readable and free of personal data.

Typical: among the theme's confident positives (hand-labelled, or probability >= min_prob),
rank by cosine similarity to the theme's centroid in embedding space, so a quote stands for
what many people said rather than an outlier. Varied: maximal marginal relevance picks each
next quote for being typical *and* unlike those already picked, and near-duplicates are
skipped; a comment already quoted for a larger theme is used again only if nothing else fits.
Readable: trimmed at a sentence boundary (or a word boundary if one sentence is too long),
always marked with an ellipsis. Safe: every quote passes through `redact`; a comment the data
flags as holding personal data that the rules cannot find is never quoted.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.columns import code_col, prob_col
from pipeline.privacy import redact
from pipeline.report.inputs import QuoteRules

log = logging.getLogger(__name__)

ELLIPSIS = "…"
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]”’]*(?=\s)")
_ABBREVIATIONS = {"mr.", "mrs.", "ms.", "dr.", "st.", "e.g.", "i.e.", "vs.", "no.", "sgt.", "cllr."}


@dataclass(frozen=True)
class QuoteConfig:
    n_quotes: int = 3
    max_chars: int = 280
    min_chars: int = 40
    min_prob: float = 0.6
    diversity: float = 0.3  # weight on being unlike quotes already chosen (MMR), 0-1
    near_duplicate: float = 0.9  # cosine similarity above which two comments are one quote
    personal_data_column: str = "personal_data"
    redaction_allow: tuple[str, ...] = ()  # names safe to show (consultation.yaml redaction_allow)
    redaction_patterns: tuple[tuple[str, str], ...] = ()  # consultation.yaml redaction_patterns


def _cut_at_word(text: str, limit: int) -> str:
    """Longest prefix within `limit` that ends between words and outside a [marker]."""
    depth, best = 0, 0
    for i, ch in enumerate(text[: limit + 1]):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(depth - 1, 0)
        elif ch.isspace() and depth == 0:
            best = i
    if best == 0:  # one enormous word: keep it whole rather than cut it
        end = text.find(" ")
        return text if end < 0 else text[:end]
    return text[:best]


def trim_quote(text: str, max_chars: int) -> str:
    """Whole sentences up to `max_chars`, then an ellipsis; never a cut mid-word."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    kept = ""
    for m in _SENTENCE_END.finditer(text):
        words = text[: m.end()].split()
        if words and words[-1].lower() in _ABBREVIATIONS:
            continue
        candidate = text[: m.end()]
        if len(candidate) + 2 > max_chars:
            break
        kept = candidate
    if kept:
        return f"{kept} {ELLIPSIS}"
    cut = _cut_at_word(text, max_chars - 2).rstrip(" ,;:-–—(")
    return f"{cut}{ELLIPSIS}"


def _flagged(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    values = frame[column]
    if values.dtype == bool:
        return values.to_numpy()
    text = values.astype(str).str.strip().str.lower()
    return text.isin({"1", "true", "yes", "y"}).to_numpy()


def _prepare(text: str, flagged: bool, cfg: QuoteConfig) -> tuple[str, tuple[str, ...]] | None:
    """The quote as it may be published, or None if it must not be."""
    red = redact(text, allow=cfg.redaction_allow, patterns=dict(cfg.redaction_patterns))
    if flagged and not red.changed:
        return None  # flagged as personal, but the rules found nothing to take out: unsafe
    quote = trim_quote(red.text, cfg.max_chars)
    if not quote.strip(" ." + ELLIPSIS):
        return None
    return quote, red.categories


def choose_quotes(
    frame: pd.DataFrame,
    theme_ids: list[str],
    theme_names: dict[str, str],
    embeddings: np.ndarray | None,
    rules: QuoteRules,
    cfg: QuoteConfig,
    stance_names: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Up to `n_quotes` quotes per theme (in `theme_ids` order: largest first gets first pick)."""
    text_col = frame["text"].fillna("").astype(str)
    texts = text_col.to_numpy()
    ids = frame["id"].astype(str).to_numpy()
    # positions of pinned comments only: no per-comment Python objects for 100k rows
    pinned_ids = [cid for listed in rules.pin.values() for cid in listed]
    position = pd.Series(np.arange(len(ids)), index=ids)
    position = position[~position.index.duplicated(keep="last")]
    found_at = position.reindex(pinned_ids)
    where = {cid: int(i) for cid, i in found_at.items() if i == i}
    hand = frame["hand_labelled"].to_numpy(dtype=bool)
    substantive = frame["substantive"].to_numpy(dtype=bool)
    flagged = _flagged(frame, cfg.personal_data_column)
    banned = np.isin(ids, list(rules.ban))
    route = (
        frame["route"].fillna("").astype(str).to_numpy()
        if "route" in frame.columns
        else np.full(len(frame), "")
    )
    lengths = text_col.str.len().to_numpy()
    stances = (
        frame["stance"].fillna("").astype(str).to_numpy()
        if "stance" in frame.columns
        else np.full(len(frame), "")
    )
    stance_names = stance_names or {}
    used: set[int] = set()
    prepared: dict[int, tuple[str, tuple[str, ...]] | None] = {}
    rows = []

    def publishable(i: int):
        if i not in prepared:
            prepared[i] = _prepare(texts[i], bool(flagged[i]), cfg)
        return prepared[i]

    for tid in theme_ids:
        coded = frame[code_col(tid)].to_numpy() == 1
        pcol = prob_col(tid)
        prob = (
            frame[pcol].fillna(0).to_numpy(dtype=float)
            if pcol in frame.columns
            else coded.astype(float)
        )
        conf = np.where(hand, coded.astype(float), prob)
        pool = np.flatnonzero(coded & substantive & ~banned)
        confident = pool[conf[pool] >= cfg.min_prob]
        if len(confident) >= cfg.n_quotes:
            pool = confident
        if embeddings is not None and len(pool):
            vecs = embeddings[pool]
            centre = (vecs * conf[pool, None]).sum(axis=0)
            centre /= np.linalg.norm(centre) or 1.0
            typical = vecs @ centre
        else:
            typical = conf[pool].copy()
        relevance = typical + 0.1 * conf[pool]
        relevance -= np.where(lengths[pool] < cfg.min_chars, 0.15, 0.0)
        relevance -= np.where(lengths[pool] > 3 * cfg.max_chars, 0.05, 0.0)
        order = pool[np.argsort(-relevance, kind="stable")][:300]
        rel = dict(zip(pool, relevance, strict=True))

        chosen: list[tuple[int, bool]] = []
        for cid in rules.pin.get(tid, []):
            i = where.get(cid)
            if i is None:
                log.warning(
                    "quotes.yaml: pinned comment %s (theme %s) is not in the data", cid, tid
                )
            elif banned[i]:
                log.warning("quotes.yaml: comment %s is both pinned and banned; ban wins", cid)
            elif publishable(i) is None:
                log.warning(
                    "quotes.yaml: pinned comment %s holds personal data the rules cannot "
                    "redact; skipped",
                    cid,
                )
            elif len(chosen) < cfg.n_quotes:
                chosen.append((i, True))

        def similar(i: int, chosen: list[tuple[int, bool]] = chosen) -> float:
            if not chosen:
                return 0.0
            if embeddings is None:
                return max(float(texts[i].casefold() == texts[j].casefold()) for j, _ in chosen)
            return float(max(embeddings[i] @ embeddings[j] for j, _ in chosen))

        for allow_reuse in (False, True):
            remaining = [i for i in order if (allow_reuse or i not in used)]
            while len(chosen) < cfg.n_quotes and remaining:
                scores = [
                    (1 - cfg.diversity) * rel[i] - cfg.diversity * similar(i) for i in remaining
                ]
                best = remaining.pop(int(np.argmax(scores)))
                if any(best == j for j, _ in chosen) or similar(best) > cfg.near_duplicate:
                    continue
                if any(texts[best].casefold() == texts[j].casefold() for j, _ in chosen):
                    continue
                if publishable(best) is None:
                    continue
                chosen.append((best, False))

        for rank, (i, pinned) in enumerate(chosen, start=1):
            used.add(i)
            quote, found = publishable(i)
            rows.append(
                {
                    "theme_id": tid,
                    "theme": theme_names[tid],
                    "rank": rank,
                    "quote": quote,
                    "comment_id": ids[i],
                    "route": route[i],
                    "pinned": pinned,
                    "hand_labelled": bool(hand[i]),
                    "confidence": float(conf[i]),
                    "redacted": ", ".join(sorted(set(found))),
                    "stance": "; ".join(
                        stance_names.get(item, item.split(":", 1)[-1])
                        for item in stances[i].split("|")
                        if item.startswith(tid + ":")
                    ),
                }
            )
    columns = [
        "theme_id",
        "theme",
        "rank",
        "quote",
        "comment_id",
        "route",
        "pinned",
        "hand_labelled",
        "confidence",
        "redacted",
        "stance",
    ]
    return pd.DataFrame(rows, columns=columns)
