"""Replace personal data with markers ("[name]", "[email]"...) before anything is shared.

presidio finds candidates (engine, recognizers); this module decides what is replaced:
- public names and famous places (lexicon) and the caller's `allow` list are never replaced,
  wherever a candidate falls wholly inside one of them ("Sadiq Khan", "10 Downing Street");
- organisations' service numbers are not anyone's phone: 999/101/111 never match, and
  non-geographic numbers (0800/0808 freephone, 03xx, 084x/087x, 09xx, 116xxx) are dropped;
- overlapping candidates become one span (the union: over-redaction is the safe failure),
  marked with the category of the longest candidate.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from pipeline.privacy import lexicon as lx
from pipeline.privacy.entities import CATEGORIES
from pipeline.privacy.phones import phone_digits

MARKERS = {category: f"[{category}]" for category in CATEGORIES.values()}
_PRIORITY = {category: i for i, category in enumerate(CATEGORIES.values())}  # ties: earlier wins
_ORGANISATION_PREFIXES = ("80", "3", "84", "87", "9", "116", "118", "5")


class Finding(NamedTuple):
    category: str  # e.g. "name", "email"
    original: str  # the text that was replaced
    start: int  # where it was, in the original text
    end: int


@dataclass(frozen=True)
class Redaction:
    text: str  # the text with each finding replaced by its marker
    found: tuple[Finding, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.found)

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories found, in order (no personal data: safe to show in a report)."""
        return tuple(f.category for f in self.found)


def _phrase_pattern(phrase: str) -> str:
    words = re.findall(r"[^\W_]+(?:['’][^\W_]+)*", phrase)
    joined = r"[\s\-]+".join(re.escape(w).replace("'", "['’]").replace("’", "['’]") for w in words)
    return rf"(?<!\w){joined}(?!\w)"


@lru_cache(maxsize=32)
def _allowed_regex(allow: tuple[str, ...]) -> re.Pattern[str] | None:
    phrases = [p for p in (*lx.PUBLIC_NAMES, *lx.PUBLIC_PLACES, *allow) if p and p.strip()]
    parts = sorted({_phrase_pattern(p) for p in phrases if re.search(r"\w", p)}, key=len)
    if not parts:
        return None
    return re.compile("|".join(reversed(parts)), re.IGNORECASE)


def _allowed_spans(text: str, allow: tuple[str, ...]) -> list[tuple[int, int]]:
    pattern = _allowed_regex(allow)
    return [] if pattern is None else [m.span() for m in pattern.finditer(text)]


def _organisation_number(number: str) -> bool:
    digits = phone_digits(number)
    if digits.startswith("44"):
        national = digits[2:].removeprefix("0")
    else:
        national = digits.removeprefix("0")
    return len(digits) < 10 or national.startswith(_ORGANISATION_PREFIXES)


@lru_cache(maxsize=32)
def _compiled(patterns: tuple[tuple[str, str], ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((label, re.compile(rx, re.IGNORECASE)) for label, rx in patterns)


def _clean_patterns(patterns: Mapping[str, str] | Sequence[tuple[str, str]] | None):
    """A workspace's own kinds of personal data (label -> regex), hashable for the cache."""
    items = patterns.items() if isinstance(patterns, Mapping) else (patterns or ())
    return tuple(sorted((str(k), str(v)) for k, v in items))


def _apply(
    text: str,
    results: Iterable,
    allow: tuple[str, ...],
    patterns: tuple[tuple[str, str], ...] = (),
) -> Redaction:
    allowed = _allowed_spans(text, allow)
    spans = [  # the workspace's own patterns win over the allow-list: the analyst asked for them
        (m.start(), m.end(), label)
        for label, rx in _compiled(patterns)
        for m in rx.finditer(text)
        if m.end() > m.start()
    ]
    for r in results:
        category = CATEGORIES.get(r.entity_type)
        start, end = int(r.start), int(r.end)
        if category is None or end <= start:
            continue
        if category == "phone" and _organisation_number(text[start:end]):
            continue
        if any(a <= start and end <= b for a, b in allowed):
            continue
        spans.append((start, end, category))
    spans.sort(key=lambda s: (s[0], -s[1]))
    merged: list[list] = []  # [start, end, best category, its length]
    for start, end, category in spans:
        length = end - start
        if merged and start < merged[-1][1]:
            last = merged[-1]
            better = (length, -_PRIORITY.get(category, -1)) > (last[3], -_PRIORITY.get(last[2], -1))
            last[1] = max(last[1], end)
            if better:
                last[2], last[3] = category, length
        else:
            merged.append([start, end, category, length])
    return _replace(text, [(category, start, end) for start, end, category, _ in merged], patterns)


def _replace(
    text: str, spans: Iterable[tuple[str, int, int]], patterns: tuple[tuple[str, str], ...]
) -> Redaction:
    """The text with each (category, start, end) span, in order and apart, put as its marker."""
    markers = {**MARKERS, **{label: f"[{label}]" for label, _ in patterns}}
    out, pos, found = [], 0, []
    for category, start, end in spans:
        out.append(text[pos:start])
        out.append(markers[category])
        found.append(Finding(category, text[start:end], start, end))
        pos = end
    out.append(text[pos:])
    return Redaction("".join(out), tuple(found))


def _clean_allow(allow: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(sorted({str(a).strip() for a in (allow or ()) if str(a).strip()}))


def redact(
    text: str, allow: Sequence[str] = (), patterns: Mapping[str, str] | None = None
) -> Redaction:
    """The text with personal data replaced by markers; `allow`: names and phrases to keep;
    `patterns`: more kinds of personal data as label -> regular expression (marked "[label]")."""
    if not text or not text.strip():
        return Redaction(text or "")
    from pipeline.privacy.engine import engine

    results = engine().analyzer.analyze(text=text, language="en", score_threshold=0.0)
    return _apply(text, results, _clean_allow(allow), _clean_patterns(patterns))


def redact_many(
    texts: Iterable[str],
    allow: Sequence[str] = (),
    batch_size: int = 64,
    patterns: Mapping[str, str] | None = None,
    progress: bool = True,
) -> list[Redaction]:
    """`redact` for many texts: spaCy runs over the distinct ones in batches (nlp.pipe, in worker
    processes for large batches); texts the active store (pipeline.privacy.store) holds are not
    redacted again."""
    from tqdm import tqdm

    from pipeline.embed import text_key
    from pipeline.privacy.engine import engine
    from pipeline.privacy.store import open_store
    from pipeline.workers import PARALLEL_FROM, spacy_workers

    texts = ["" if t is None else str(t) for t in texts]
    allowed = _clean_allow(allow)
    extra = _clean_patterns(patterns)
    out = [Redaction(t) for t in texts]
    rows: dict[str, list[int]] = {}  # each distinct text is redacted once
    for i, t in enumerate(texts):
        if t.strip():
            rows.setdefault(t, []).append(i)
    store = open_store(allowed, extra)
    keys = {t: text_key(t).hex() for t in rows} if store is not None else {}
    pending = []
    for t, where in rows.items():
        spans = store.get(keys[t]) if store is not None else None
        if spans is None:
            pending.append(t)
            continue
        redaction = _replace(t, spans, extra)
        for i in where:
            out[i] = redaction
    if not pending:
        return out
    eng = engine()
    batches = eng.analyzer.nlp_engine.process_batch(
        pending, "en", batch_size=batch_size, n_process=spacy_workers(len(pending))
    )
    show = progress and len(pending) >= PARALLEL_FROM
    with tqdm(total=len(pending), desc="redact", unit="comment", disable=not show) as bar:
        for text, (_, artifacts) in zip(pending, batches, strict=True):
            results = eng.analyzer.analyze(
                text=text, language="en", nlp_artifacts=artifacts, score_threshold=0.0
            )
            redaction = _apply(text, results, allowed, extra)
            for i in rows[text]:
                out[i] = redaction
            bar.update()
    if store is not None:
        store.add({keys[t]: _spans(out[rows[t][0]]) for t in pending})
    return out


def _spans(redaction: Redaction) -> tuple[tuple[str, int, int], ...]:
    return tuple((f.category, f.start, f.end) for f in redaction.found)


def counts(redactions: Iterable[Redaction]) -> dict[str, int]:
    """How many pieces of each category were replaced, largest first."""
    tally = Counter(f.category for r in redactions for f in r.found)
    return dict(sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])))


def without_personal_data(texts: Sequence[str], redactions: Sequence) -> list[str]:
    """Each text with what its redaction found cut out, a comma in its place so that no phrase
    spans the gap: what names topics, points and groups (their keywords and phrases) is shown
    like a quote and must name no one ("Mr Okonkwo; bowls club", "Acacia Avenue; lamp" came
    through spaCy's name filter)."""
    out = []
    for text, redaction in zip(texts, redactions, strict=True):
        text, pos, parts = "" if text is None else str(text), 0, []
        for finding in redaction.found:
            parts.append(text[pos : finding.start])
            pos = finding.end
        out.append(" , ".join([*parts, text[pos:]]))
    return out
