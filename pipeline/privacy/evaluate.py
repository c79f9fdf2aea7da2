"""Scoring redaction against a labelled set (tests/data/redaction/*.yaml).

A planted item is *caught* when no identifying part of it survives redaction. Precisely:
- the item's parts are its runs of letters and runs of digits, lower-cased ("PC4417" gives
  "pc" and "4417"; "O'Neill" gives "o" and "neill");
- single letters and generic words are not identifying and are ignored: connectors of written
  emails ("at", "dot", "com", "gmail"), street types ("road", "close"), month names, ordinal
  suffixes, link furniture ("https", "www");
- a part survives when it occurs (as a whole run, markers like "[name]" removed) more often in
  the redacted text than in the original text with the item cut out. So a word that also
  appears elsewhere in the sentence does not count against the redaction, and a partial
  redaction ("07911 [phone]") is a miss.
A look-alike sentence is *changed* when its redacted text differs from the original at all.
Collateral: runs of letters or digits outside every planted item that redaction removed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import yaml

_RUN = re.compile(r"[^\W\d_]+|\d+")
_MARKER = re.compile(r"\[[^\[\]]{1,30}\]")
NOT_IDENTIFYING = frozenset(
    """
    at dot underscore dash hyphen com co uk org net gov io ly be www http https gmail googlemail
    hotmail yahoo outlook icloud btinternet live aol mail msn sky instagram tiktok facebook
    youtube youtu bit twitter insta snapchat groups posts video p no number flat
    road rd street st avenue ave lane close drive way gardens grove crescent terrace court place
    hill square mews row walk green park
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec st nd rd th of the
    """.split()
)


def load_sentences(path: str | Path, split: str | None = None) -> list[dict]:
    """The labelled sentences of a set (optionally one split): id, text, items, split."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["sentences"]
    out = []
    for s in data:
        if split is not None and s.get("split") != split:
            continue
        items = [(str(c), str(x)) for c, x in s.get("items") or []]
        for _, item in items:
            if item not in s["text"]:
                raise ValueError(f"{path}: {s['id']}: {item!r} is not in the text")
        out.append({"id": s["id"], "text": s["text"], "items": items, "split": s.get("split")})
    return out


def _runs(text: str) -> Counter:
    return Counter(r.lower() for r in _RUN.findall(_MARKER.sub(" ", text)))


def identifying_parts(item: str) -> list[str]:
    parts = [r.lower() for r in _RUN.findall(item)]
    return [p for p in parts if (len(p) > 1 or p.isdigit()) and p not in NOT_IDENTIFYING]


def caught(original: str, redacted: str, item: str) -> bool:
    """No identifying part of `item` survives in `redacted` (see the module docstring)."""
    at = original.find(item)
    rest = _runs(original[:at] + " " + original[at + len(item) :]) if at >= 0 else _runs(original)
    left = _runs(redacted)
    return all(left[p] <= rest[p] for p in set(identifying_parts(item)))


def collateral(original: str, redacted: str, items: Sequence[str]) -> int:
    """Runs of letters/digits outside the planted items that redaction removed."""
    outside = original
    for item in items:
        outside = outside.replace(item, " ", 1)
    before, after = _runs(outside), _runs(redacted)
    return sum(max(0, n - after[w]) for w, n in before.items())


def score(sentences: list[dict], redacted: list[str]) -> dict:
    """Recall per category and overall, look-alikes changed, and the misses, for one set."""
    per: dict[str, list[int]] = {}
    misses, changed_lookalikes = [], []
    n_look = n_changed = lost = n_pii = 0
    for s, red in zip(sentences, redacted, strict=True):
        if not s["items"]:
            n_look += 1
            if red != s["text"]:
                n_changed += 1
                changed_lookalikes.append({"id": s["id"], "text": s["text"], "redacted": red})
            continue
        n_pii += 1
        lost += collateral(s["text"], red, [x for _, x in s["items"]])
        for category, item in s["items"]:
            ok = caught(s["text"], red, item)
            tally = per.setdefault(category, [0, 0])
            tally[0] += 1
            tally[1] += ok
            if not ok:
                misses.append({"id": s["id"], "category": category, "item": item, "redacted": red})
    items = sum(t[0] for t in per.values())
    hits = sum(t[1] for t in per.values())
    return {
        "sentences_with_items": n_pii,
        "items": items,
        "caught": hits,
        "recall": hits / items if items else None,
        "per_category": {
            c: {"items": t[0], "caught": t[1], "recall": t[1] / t[0]}
            for c, t in sorted(per.items(), key=lambda kv: (-kv[1][0], kv[0]))
        },
        "lookalikes": n_look,
        "lookalikes_changed": n_changed,
        "lookalike_change_rate": n_changed / n_look if n_look else None,
        "collateral_runs_lost": lost,
        "misses": misses,
        "changed_lookalikes": changed_lookalikes,
    }
