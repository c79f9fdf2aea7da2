"""Spotting answers that say nothing ("No", "n/a", "don't know") so they are counted, not coded.

A comment is a non-answer only when *every* clause in it is a non-answer phrase: "No." is one,
"No police presence on my estate" is not. Rules, not a model: analysts must be able to read
and defend exactly why a row was set aside.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import pandas as pd

# Each reason maps to patterns that must match a whole clause (after lower-casing,
# straightening apostrophes and dropping trailing punctuation).
_FILLER = r"(?:\s+(?:at all|really|thanks|thank you|thx|ta|tbh|to be honest|sorry|i think|as such|" \
    r"at (?:the|this) (?:moment|time|stage)|right now|for now|currently|that i can (?:see|think of)|" \
    r"i can think of|comes to mind|springs to mind|to add|else|more|further|from me|here|" \
    r"in particular|specifically|off the top of my head|that i know of|i would say))*"

_PATTERNS: dict[str, list[str]] = {
    "no_answer": [
        r"(?:no+|nope|nah|na|non|nil|none|nothing|not really|not that i (?:know|can see|can think of)|no+ne?)",
        r"(?:(?:no+|nope|nah|none|nothing),? (?:not really|nothing|none|no+|nope|really not))",
        r"(?:n/?a|n\.a|not applicable|nothing (?:missing|to say|to report|to comment)|no comments?)",
        r"(?:no+ (?:thanks|thank you|comment|comments|opinion|suggestions?|nothing|answer|response))",
        r"(?:i have nothing to (?:add|say)|nothing (?:else )?(?:to add|i can think of)|can'?t think of anything)",
        r"(?:cannot think of anything|i can'?t think of any(?:thing)?|nothing comes to mind|none that i can see)",
        r"(?:no(?:thing)? is missing|no+,? nothing|no+,? none|pass|skip|same as above|as above|see above)",
    ],
    "dont_know": [
        r"(?:(?:i )?(?:do not|don'?t|dont|dnt|didn'?t) know|dunno|idk|i don'?t know really)",
        r"(?:(?:i(?:'?m| am) )?(?:not sure|unsure|uncertain)|no idea|i have no idea|no clue|not a clue)",
        r"(?:(?:i )?(?:have|had) not read (?:it|the plan)|(?:i )?haven'?t read (?:it|the plan)|not read it)",
        r"(?:(?:so )?(?:i )?(?:can'?t|cannot|couldn'?t) (?:say|comment|tell)|so can'?t say)",
        r"(?:(?:i(?:'?m| am) )?not sure what (?:you mean|is meant|this means|you are asking)(?: by \w+)?)",
        r"(?:don'?t know enough(?: about it)?|i(?:'?m| am) not (?:an )?expert|no opinion|no view)",
    ],
    "no_suggestion": [
        r"(?:(?:it )?(?:looks|seems|sounds) (?:fine|good|ok|okay|alright|comprehensive|great)(?: to me)?)",
        r"(?:(?:it(?:'?s| is) )?(?:fine|ok|okay|good|all good|great|alright|comprehensive|all covered))",
        r"(?:(?:i(?:'?m| am) )?(?:happy|satisfied|content) with (?:it|the plan|that|this)(?: as it is)?)",
        r"(?:yes|yeah|yep|maybe|possibly|probably|perhaps|everything|all of it|covered|well done)",
        r"(?:you(?:'ve| have) covered (?:it|everything)(?: all)?|(?:it|the plan) covers (?:it|everything))",
        r"(?:(?:it |the plan )?(?:seems|looks|appears) to cover (?:it|everything|it all)(?: well)?)",
        r"(?:nothing,? (?:it )?(?:looks|seems) (?:fine|good|ok|okay)|test|testing|asdf+|x+|\.+)",
    ],
}
_COMPILED = {
    reason: re.compile(r"^(?:" + "|".join(p + _FILLER for p in pats) + r")$")
    for reason, pats in _PATTERNS.items()
}
_CLAUSE_SPLIT = re.compile(r"\s*(?:[,.;:!?()]+|\s-\s|\band\b|\bbut\b|\bso\b)\s*")
_WORDLIKE = re.compile(r"[^\W_]", re.UNICODE)
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})

REASONS = ("empty", "no_text", *_PATTERNS)


def _clauses(text: str) -> list[str]:
    lowered = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    lowered = re.sub(r"\s+", " ", lowered).strip()
    return [c.strip(" '\"*~") for c in _CLAUSE_SPLIT.split(lowered) if c.strip(" '\"*~")]


def non_answer_reason(text: str | None, extra: Iterable[str] = ()) -> str | None:
    """Why this answer says nothing, or None if it is substantive."""
    if text is None or not str(text).strip():
        return "empty"
    text = str(text)
    if not _WORDLIKE.search(text):
        return "no_text"
    extra_set = {e.strip().lower() for e in extra}
    clauses = _clauses(text)
    if not clauses:
        return "no_text"
    reasons: list[str] = []
    for clause in clauses:
        if clause in extra_set:
            reasons.append("no_answer")
            continue
        hit = next((r for r, rx in _COMPILED.items() if rx.match(clause)), None)
        if hit is None:
            return None
        reasons.append(hit)
    # "No, don't know" -> the stronger signal of uncertainty; otherwise the first reason
    return "dont_know" if "dont_know" in reasons else reasons[0]


def flag_non_substantive(texts: pd.Series, extra: Iterable[str] = ()) -> pd.DataFrame:
    """Columns `substantive` (bool) and `non_substantive_reason` (str, "" when substantive)."""
    extra = list(extra)
    reasons = texts.map(lambda t: non_answer_reason(t, extra) or "")
    return pd.DataFrame(
        {"substantive": reasons.eq(""), "non_substantive_reason": reasons}, index=texts.index
    )
