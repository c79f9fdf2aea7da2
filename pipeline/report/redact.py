"""Redacting personal data from quotes with spaCy rules that run offline (no trained model).

A blank English pipeline tokenises; one component finds personal data two ways:
- regular expressions over the text for things with a fixed shape: emails, UK phone numbers,
  postcodes (any case), vehicle registrations and street addresses;
- spaCy `Matcher` token rules for names that a rule can catch: a title or rank before
  capitalised words ("PC Dave Harrington", "Mrs Patel") and a relation before them
  ("my neighbour Janet Oduya"). Only the name is replaced, so "my neighbour [name]" still reads.
Over-redaction is the safe failure: a quote loses a word; under-redaction publishes a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

MARKERS = {
    "EMAIL": "[email]",
    "PHONE": "[phone]",
    "POSTCODE": "[postcode]",
    "VEHICLE_REG": "[vehicle reg]",
    "ADDRESS": "[address]",
    "PERSON": "[name]",
    "URL": "[link]",
}

_STREET = (
    r"(?:Road|Rd|Street|St|Avenue|Ave|Lane|Ln|Close|Drive|Dr|Way|Gardens|Gdns|Grove|Crescent|"
    r"Cres|Place|Pl|Terrace|Court|Ct|Hill|Square|Sq|Mews|Row|Walk|Rise|Parade|Green|Park|Vale|View)"
)

# Order matters only for overlaps: the longest span wins (spacy.util.filter_spans).
_REGEXES: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL", re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    ("URL", re.compile(r"\b(?:https?://|www\.)[^\s<>\"')]+", re.IGNORECASE)),
    # +44 / 0044 / 0 followed by 9-10 more digits, allowing spaces, dashes and brackets.
    (
        "PHONE",
        re.compile(
            r"(?<![\w+])(?:(?:\+|00)\s?44\s?(?:\(0\)\s?)?|\(?0)"
            r"(?:\d{2,4}\)?[ -]?\d{3,4}[ -]?\d{3,4}|\d{9,10})(?!\w)"
        ),
    ),
    # Full UK postcodes, any case ("SW1A 1AA", "e8 3pb", "N19GU").
    (
        "POSTCODE",
        re.compile(
            r"\b(?:GIR\s?0AA|[A-Z]{1,2}\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2})\b", re.IGNORECASE
        ),
    ),
    # Current registrations ("LD21 XYZ", "ab12cde") in any case; older prefix/suffix
    # styles ("P123 ABC", "ABC 123D") only in capitals, where they cannot be ordinary words.
    ("VEHICLE_REG", re.compile(r"\b[A-Z]{2}\d{2}\s?[A-Z]{3}\b", re.IGNORECASE)),
    ("VEHICLE_REG", re.compile(r"\b(?:[A-Z]\d{1,3}\s?[A-Z]{3}|[A-Z]{3}\s?\d{1,3}[A-Z])\b")),
    # "12 Acacia Avenue", "Flat 3, 14b High Street", "221B Baker St"
    (
        "ADDRESS",
        re.compile(
            r"\b(?:(?:Flat|Apartment|Apt|Unit)\s+\d+[A-Za-z]?,?\s+)?\d{1,4}[A-Za-z]?,?\s+"
            r"(?:[A-Z][a-z'’]+\s+){1,3}" + _STREET + r"\b\.?"
        ),
    ),
]

_TITLES = [
    "pc",
    "dc",
    "ds",
    "di",
    "dci",
    "dsu",
    "sgt",
    "sergeant",
    "constable",
    "inspector",
    "detective",
    "superintendent",
    "commander",
    "officer",
    "pcso",
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "dr",
    "cllr",
    "councillor",
    "sir",
    "dame",
    "lord",
    "lady",
    "rev",
    "reverend",
    "father",
    "sister",
]
_RELATIONS = [
    "neighbour",
    "neighbor",
    "neighbours",
    "son",
    "daughter",
    "husband",
    "wife",
    "partner",
    "friend",
    "brother",
    "sister",
    "mum",
    "mother",
    "dad",
    "father",
    "cousin",
    "nephew",
    "niece",
    "colleague",
    "landlord",
    "landlady",
    "boyfriend",
    "girlfriend",
    "grandson",
    "granddaughter",
    "uncle",
    "aunt",
    "auntie",
    "child",
    "kid",
    "lad",
    "carer",
    "flatmate",
    "boss",
    "tenant",
]
# Capitalised words that follow a title but are not names ("Officer Safety", "Sister Act").
_NOT_NAMES = {
    "police",
    "met",
    "station",
    "team",
    "safety",
    "training",
    "school",
    "council",
    "london",
    "road",
    "street",
    "the",
    "a",
    "an",
    "and",
    "or",
    "of",
    "in",
    "on",
    "at",
    "to",
    "who",
    "was",
}


@dataclass(frozen=True)
class Redaction:
    text: str  # the text with personal data replaced by markers such as "[email]"
    found: tuple[str, ...]  # the kinds found, in order, e.g. ("PERSON", "EMAIL")

    @property
    def changed(self) -> bool:
        return bool(self.found)


def _name_tokens_after_trigger(span) -> tuple[int, int] | None:
    """The run of capitalised, non-stop tokens at the end of a matched span (the name part)."""
    end = span.end
    start = end
    while start > span.start + 1:
        if _is_name_token(span.doc[start - 1]):
            start -= 1
        else:
            break
    return (start, end) if start < end else None


def _is_name_token(tok) -> bool:
    return tok.is_title and tok.is_alpha and not tok.is_stop and tok.lower_ not in _NOT_NAMES


def _names_beside(doc, span, Span) -> list:
    """A full name written next to contact details ("call 07911 123456, Mohammed Rahim")."""
    found = []
    i = span.end
    if i < len(doc) and doc[i].text in {",", "-", "–", "(", ":"}:
        i += 1
    j = i
    while j < len(doc) and j - i < 3 and _is_name_token(doc[j]):
        j += 1
    if j - i >= 2:
        found.append(Span(doc, i, j, label="PERSON"))
    k = span.start
    if k > 0 and doc[k - 1].text in {",", "-", "–", "(", ":"}:
        k -= 1
    m = k
    while m > 0 and k - m < 3 and _is_name_token(doc[m - 1]):
        m -= 1
    if k - m >= 2:
        found.append(Span(doc, m, k, label="PERSON"))
    return found


@lru_cache(maxsize=1)
def _pipeline():
    import spacy
    from spacy.language import Language
    from spacy.matcher import Matcher
    from spacy.tokens import Span
    from spacy.util import filter_spans

    nlp = spacy.blank("en")
    matcher = Matcher(nlp.vocab)
    name = {"IS_TITLE": True, "IS_ALPHA": True, "IS_STOP": False, "OP": "+"}
    matcher.add(
        "TITLE_NAME",
        [[{"LOWER": {"IN": _TITLES}}, {"ORTH": ".", "OP": "?"}, name]],
        greedy="LONGEST",
    )
    matcher.add(
        "RELATION_NAME",
        [
            [
                {"LOWER": {"IN": ["my", "our", "his", "her", "their", "a"]}},
                {"LOWER": {"IN": _RELATIONS}},
                {"ORTH": {"IN": [",", "-", "("]}, "OP": "?"},
                name,
            ]
        ],
        greedy="LONGEST",
    )
    matcher.add(
        "NAMED",
        [
            [
                {"LOWER": {"IN": ["named", "name's", "names", "name", "nicknamed"]}},
                {"LOWER": {"IN": ["is", "was"]}, "OP": "?"},
                name,
            ]
        ],
        greedy="LONGEST",
    )

    # "call Sam on 07700 ...", "email Priya at ...": a name between a contact verb and on/at
    matcher.add(
        "CONTACT_NAME",
        [
            [
                {"LOWER": {"IN": ["call", "ring", "phone", "contact", "text", "email", "ask"]}},
                {"IS_TITLE": True, "IS_ALPHA": True, "IS_STOP": False, "OP": "{1,3}"},
                {"LOWER": {"IN": ["on", "at"]}},
            ]
        ],
        greedy="LONGEST",
    )
    matcher.add(
        "SIGN_OFF",
        [
            [
                {"LOWER": {"IN": ["regards", "thanks", "cheers", "sincerely", "signed"]}},
                {"ORTH": {"IN": [",", "-"]}, "OP": "?"},
                name,
            ]
        ],
        greedy="LONGEST",
    )

    @Language.component("personal_data")
    def personal_data(doc):
        spans = []
        for label, pattern in _REGEXES:
            for m in pattern.finditer(doc.text):
                if label == "PHONE" and not 10 <= sum(c.isdigit() for c in m.group()) <= 12:
                    continue
                span = doc.char_span(m.start(), m.end(), label=label, alignment_mode="expand")
                if span is not None:
                    spans.append(span)
                    if label in ("PHONE", "EMAIL"):
                        spans.extend(_names_beside(doc, span, Span))
        for match_id, start, end in matcher(doc):
            if nlp.vocab.strings[match_id] == "CONTACT_NAME":
                end -= 1  # leave the "on" / "at"
            bounds = _name_tokens_after_trigger(doc[start:end])
            if bounds:
                spans.append(Span(doc, bounds[0], bounds[1], label="PERSON"))
        doc.ents = filter_spans(spans)
        return doc

    nlp.add_pipe("personal_data")
    return nlp


def redact(text: str) -> Redaction:
    """Replace each piece of personal data with a marker; keep the rest of the text as written."""
    if not text:
        return Redaction(text or "", ())
    doc = _pipeline()(text)
    out, pos, found = [], 0, []
    for ent in doc.ents:
        out.append(text[pos : ent.start_char])
        out.append(MARKERS[ent.label_])
        pos = ent.end_char
        found.append(ent.label_)
    out.append(text[pos:])
    return Redaction("".join(out), tuple(found))
