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
_FILLER = (
    r"(?:\s+(?:at all|really|thanks|thank you|thx|ta|tbh|to be honest|sorry|i think|as such|"
    r"at (?:the|this) (?:moment|time|stage)|right now|for now|currently|"
    r"that i can (?:see|think of)|i can think of|comes to mind|springs to mind|to add|else|more|"
    r"further|from me|here|in particular|specifically|off the top of my head|that i know of|"
    r"i would say|whatsoever|either|thankyou|cheers|please))*"
)
# Hedges that may open any non-answer: "I think you've covered everything", "Honestly, no"
_LEAD = (
    r"(?:(?:i think|i feel|i guess|i suppose|honestly|to be honest|tbh|personally|well|"
    r"um+|erm+|er|hmm+|uh+|ah+|oh|sorry)\s+)*"
)
# Clauses that carry no content of their own: dropped beside others ("Don't know, sorry"),
# a non-answer on their own ("Thanks!")
_COURTESY = re.compile(
    r"^(?:thanks|thank you|thankyou|thx|ta|cheers|sorry|please|many thanks|thanks again|regards|"
    r"kind regards|best wishes|good luck|hope this helps|tbh|honestly|to be honest|personally|"
    r"well|um+|erm+|er|hmm+|uh+|ah+|oh)$"
)
_DONT = r"(?:do not|don'?t|dont|dnt)"
_CANT = r"(?:can'?t|cannot|can not|couldn'?t)"
_NO = r"(?:no+|nope|nah|none|nothing|not really)"
_IM = r"(?:i(?:'?m| am) )"
_IT_IS = r"(?:(?:it|the plan|this|that|everything)(?:'?s| is) )"
_FINE = r"(?:fine|ok|okay|good|all good|great|alright|comprehensive|all covered|excellent)"

_PATTERNS: dict[str, list[str]] = {
    "no_answer": [
        r"(?:no+|nope|nah|na|non|nil+|nada|zilch|none|nothing|not really|no+ne?)",
        r"(?:(?:did not|didn'?t|does not|doesn'?t) (?:answer|respond|reply)|not answered|unanswered)",
        r"(?:not that i(?:'?m| am)? (?:know of|know|can see|can think of|aware of|am aware of))",
        r"(?:not (?:at (?:the|this) (?:moment|time|stage)|at present|right now|currently|yet|"
        r"for now))",
        rf"(?:{_NO},? (?:not really|nothing|none|no+|nope|really not|(?:i )?{_DONT} think))",
        r"(?:n/?a|not applicable|nothing (?:missing|to say|to report|to comment)|no comments?)",
        r"(?:no+ (?:further |more |other |additional )?"
        r"(?:comments?|suggestions?|thoughts|answer|response))",
        r"(?:no+ (?:thanks|thank you|nothing))",
        r"(?:(?:i )?(?:have )?nothing (?:else |more |further )?to (?:add|say))",
        r"(?:nothing (?:else )?i can think of|nothing comes to mind|none that i can see)",
        rf"(?:(?:i )?{_CANT} think of any(?:thing)?(?: else)?|(?:i )?{_DONT} think)",
        r"(?:no(?:thing)? is missing|no+,? nothing|no+,? none|pass|skip|same as above|"
        r"as above|see above)",
        rf"(?:prefer not to (?:say|answer|comment)|(?:i )?{_DONT} care)",
        r"(?:test|testing|asdf+|x+)",
    ],
    "dont_know": [
        rf"(?:(?:i )?(?:{_DONT}|didn'?t) know|dunno|idk|i don'?t know really)",
        rf"(?:{_IM}?(?:not (?:really |too |that |very )?sure|unsure|uncertain))",
        r"(?:(?:i )?(?:have )?(?:no idea|no clue|not a clue))",
        r"(?:(?:i )?(?:have|had) not read (?:it|the plan)|(?:i )?haven'?t read (?:it|the plan)|"
        r"not read it)",
        rf"(?:(?:so )?(?:i )?{_CANT} (?:say|comment|tell)|so can'?t say)",
        rf"(?:{_IM}?not sure what (?:you mean|is meant|this means|you are asking)(?: by \w+)?)",
        rf"(?:(?:i )?{_DONT} know enough(?: about (?:it|this|the plan))?(?: to (?:say|comment))?)",
        rf"(?:{_IM}not (?:an )?expert|no (?:strong |particular |real )?(?:opinions?|views?))",
    ],
    "no_suggestion": [
        r"(?:(?:it |the plan )?(?:looks|seems|sounds) (?:fine|good|ok|okay|alright|"
        r"comprehensive|great)(?: to me)?)",
        rf"(?:{_IT_IS}?{_FINE})",
        rf"(?:{_IM}?(?:happy|satisfied|content) with (?:it|the plan|that|this)(?: as it is)?)",
        r"(?:yes|yeah|yep|maybe|possibly|probably|perhaps|everything|all of it|covered|well done)",
        r"(?:you(?:'ve| have) covered (?:it|everything)(?: all)?|"
        r"(?:it|the plan) covers (?:it|everything))",
        r"(?:(?:it |the plan )?(?:seems|looks|appears) to cover (?:it|everything|it all)"
        r"(?: well)?)",
        r"(?:(?:everything|it all) (?:seems|looks|appears|is) (?:to be )?(?:covered|there|fine))",
        r"(?:nothing,? (?:it )?(?:looks|seems) (?:fine|good|ok|okay))",
    ],
}
_COMPILED = {
    reason: re.compile(r"^" + _LEAD + r"(?:" + "|".join(p + _FILLER for p in pats) + r")$")
    for reason, pats in _PATTERNS.items()
}
_CLAUSE_SPLIT = re.compile(r"\s*(?:[,.;:!?()\u2013\u2014]+|\s-+\s|\band\b|\bbut\b|\bso\b)\s*")
_WORDLIKE = re.compile(r"[^\W_]", re.UNICODE)
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_NOT_APPLICABLE = re.compile(r"\bn\s*[./]\s*a\b\.?")  # "N.A.", "n / a": before "." splits it
_EMOJI_GLUE = {"\ufe0f", "\ufe0e", "\u20e3"}
_JOINERS = str.maketrans("", "", "\u200c\u200d")

REASONS = ("empty", "no_text", *_PATTERNS)


# ASCII symbols (category S*): the per-character check below, done by one translate for ASCII text
_ASCII_SYMBOLS = str.maketrans(
    {c: " " for c in map(chr, range(128)) if unicodedata.category(c)[0] == "S"}
)


def _clauses(text: str) -> list[str]:
    lowered = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    # ZWJ/ZWNJ are kept in the text (emoji sequences, Persian and Indic spelling), not in the
    # words the rules read: "No\u200c" is "No"
    lowered = lowered.translate(_JOINERS)
    # emoji and other symbols say nothing a rule can read: "No \U0001f44d" is "No"
    if lowered.isascii():  # the common case, 20x faster than looking at every character
        lowered = lowered.translate(_ASCII_SYMBOLS)
    else:
        lowered = "".join(
            " " if ch in _EMOJI_GLUE or unicodedata.category(ch).startswith("S") else ch
            for ch in lowered
        )
    lowered = _NOT_APPLICABLE.sub("n/a", re.sub(r"\s+", " ", lowered).strip())
    return [c.strip(" '\"*~") for c in _CLAUSE_SPLIT.split(lowered) if c.strip(" '\"*~")]


def _extra_set(extra: Iterable[str]) -> set[str]:
    return {" ".join(_clauses(e)) for e in extra} - {""}


def non_answer_reason(text: str | None, extra: Iterable[str] = ()) -> str | None:
    """Why this answer says nothing, or None if it is substantive."""
    return _reason(text, _extra_set(extra))


def _reason(text: str | None, extra_set: set[str]) -> str | None:
    if text is None or not str(text).strip():
        return "empty"
    text = str(text)
    if not _WORDLIKE.search(text):
        return "no_text"
    clauses = _clauses(text)
    if not clauses:
        return "no_text"
    if " ".join(clauses) in extra_set:
        return "no_answer"
    # "Don't know, sorry": courtesies go with any answer; alone ("Thanks!") they are no answer
    content = [c for c in clauses if not _COURTESY.match(c)]
    if not content:
        return "no_answer"
    reasons: list[str] = []
    for clause in content:
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
    from tqdm import tqdm

    extra_set = _extra_set(extra)
    # each distinct text once (exports repeat "No" thousands of times); a bar on big inputs
    unique = pd.unique(texts.astype(object))
    found = {
        t: _reason(t, extra_set) or ""
        for t in tqdm(unique, desc="ingest: non-answers", unit="text", disable=len(unique) < 20_000)
    }
    reasons = texts.map(found)
    return pd.DataFrame(
        {"substantive": reasons.eq(""), "non_substantive_reason": reasons}, index=texts.index
    )
