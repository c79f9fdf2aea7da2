"""Guessing a new export's layout for `yousaid init`: which column is what.

Pure functions over the raw table (every cell a string). Each guess is printed and written to
consultation.yaml for the analyst to check; none is final.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

_ID_NAME = re.compile(r"\b(id|ref|reference|respondent|response|record|case)\b", re.I)
_WEIGHT_NAME = re.compile(r"\b(weight|wt|weighting)\b", re.I)
_QNUM = re.compile(r"^\s*q(?:uestion)?\s*(\d+[a-z]?)\s*[.:)\-–]?\s*", re.I)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.I)
_DATE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
_CODE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)+$")
_STOP = set(
    "a an and any anything are as at be by can did do does for from have how i if in is it its "
    "me my of on or our please should tell that the there this to us was we what when where "
    "which who why will with would you your yours other else like".split()
)
# respondent column names reports and Label Studio know, by a word in the header
_KNOWN = (
    (
        re.compile(r"\b(route|channel|take part|took part|respond|responded|source)\b", re.I),
        "route",
    ),
    (re.compile(r"\bage\b", re.I), "age_band"),
    (re.compile(r"\b(gender|sex)\b", re.I), "gender"),
    (re.compile(r"\bethnic", re.I), "ethnicity"),
    (re.compile(r"\bborough\b", re.I), "borough"),
    (re.compile(r"\bward\b", re.I), "ward"),
)


@dataclass
class Guess:
    title: str
    id_column: str | None
    weight_column: str | None = None
    questions: list[dict[str, str]] = field(default_factory=list)  # id, column, text
    respondent_columns: dict[str, str] = field(default_factory=dict)  # name -> export column
    display_names: dict[str, dict[str, str]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # columns read by nothing (dates, emails)


def slug(text: str, words: int = 3, taken: set[str] | None = None) -> str:
    """A short lower-case id from the meaningful words of a header."""
    tokens = [t for t in re.findall(r"[a-z0-9]+", text.lower()) if t not in _STOP]
    base = "_".join(tokens[:words]) or "column"
    base = base if base[0].isalpha() else f"q_{base}"
    out, n = base, 2
    while taken is not None and out in taken:
        out, n = f"{base}_{n}", n + 1
    if taken is not None:
        taken.add(out)
    return out


def _profile(values: pd.Series) -> dict[str, float]:
    filled = values[values.str.strip() != ""]
    n = len(filled)
    if not n:
        return {
            "filled": 0.0,
            "unique": 0.0,
            "words": 0.0,
            "numeric": 0.0,
            "email": 0.0,
            "date": 0.0,
            "n_unique": 0,
        }
    return {
        "filled": n / len(values),
        "unique": filled.nunique() / n,
        "n_unique": filled.nunique(),
        "words": float(filled.str.split().str.len().mean()),
        "numeric": float(pd.to_numeric(filled, errors="coerce").notna().mean()),
        "email": float(filled.str.contains(_EMAIL).mean()),
        "date": float(filled.str.match(_DATE).mean()),
    }


def is_free_text(p: dict[str, float]) -> bool:
    """Mostly long, varied text: what people wrote, not a category they ticked.

    Long answers count even when many repeat: campaign responses copy one text hundreds of times.
    """
    varied = p["unique"] >= 0.6 or (p["words"] >= 8 and p["n_unique"] >= 10)
    return p["words"] >= 4 and varied and p["email"] < 0.5 and p["numeric"] < 0.5


def _question(column: str, taken: set[str]) -> dict[str, str]:
    number = _QNUM.match(column)
    text = column[number.end() :].strip() if number else column.strip()
    qid = slug(text, 2, None)
    qid = f"q{number.group(1).lower()}_{qid}" if number else qid
    return {"id": slug(qid.replace("_", " "), 4, taken), "column": column, "text": text}


def _display(values: pd.Series) -> dict[str, str]:
    """Readable names for code-like values (talk_london -> Talk London)."""
    codes = sorted({v for v in values if _CODE.match(v)})
    return {c: c.replace("_", " ").title() for c in codes}


def guess_layout(frame: pd.DataFrame, title: str) -> Guess:
    profiles = {c: _profile(frame[c].astype(str)) for c in frame.columns}
    guess = Guess(title=title, id_column=None)
    complete = [c for c, p in profiles.items() if p["filled"] == 1 and p["unique"] == 1]
    named = [c for c in complete if _ID_NAME.search(c)]
    short = [c for c in complete if profiles[c]["words"] <= 2]
    # an id-named column with a few gaps or repeats is still the id: ingest names the bad rows
    nearly = [
        c
        for c, p in profiles.items()
        if _ID_NAME.search(c) and p["filled"] >= 0.95 and p["unique"] >= 0.95 and p["words"] <= 2
    ]
    guess.id_column = (named or short or nearly or [None])[0]
    weights = [
        c
        for c, p in profiles.items()
        if _WEIGHT_NAME.search(c) and p["numeric"] >= 0.9 and c != guess.id_column
    ]
    guess.weight_column = weights[0] if weights else None
    taken_q: set[str] = set()
    taken_r: set[str] = {"id", "text", "weight"}
    for column, p in profiles.items():
        if column in (guess.id_column, guess.weight_column):
            continue
        if is_free_text(p):
            guess.questions.append(_question(column, taken_q))
        elif (
            p["filled"] > 0
            and 2 <= p["n_unique"] <= max(2, min(60, 0.5 * p["filled"] * len(frame)))
            and p["words"] <= 5
            and p["email"] < 0.5
            and p["date"] < 0.5
        ):
            known = next((name for rx, name in _KNOWN if rx.search(column)), None)
            name = known if known and known not in taken_r else slug(column, 3, taken_r)
            taken_r.add(name)
            guess.respondent_columns[name] = column
            names = _display(frame[column].astype(str))
            if names:
                guess.display_names[name] = names
        else:
            guess.ignored.append(column)
    return guess
