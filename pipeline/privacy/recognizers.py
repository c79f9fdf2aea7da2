"""Presidio recognizers for what the library does not find, or finds too eagerly, in UK text.

Each rule is a regular expression (the `regex` module, as presidio uses) whose group `pii`
(or the whole match) is the personal data, so a cue stays readable: "shoulder number
[officer number]", "born on [date of birth]". Rules that decide whether a word is a name ask
`lexicon` (census name lists, word frequencies) and the spaCy document (its NER labels).

Why each exists:
- emails: presidio's EmailRecognizer calls tldextract, which downloads the public-suffix list;
  ours needs no network and also reads "jo dot smith at gmail dot com", "[at]", "(dot)".
- phones: phonenumbers (via presidio) only keeps valid, allocated numbers; a UK-shaped number
  a respondent wrote (Ofcom's drama ranges, typos) is still theirs, so a shape rule backs it up.
- NI numbers with dashes, dates of birth, handles, officer numbers, addresses and names after
  a cue have no recognizer in presidio.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import regex
from spacy.lang.en.stop_words import STOP_WORDS

from pipeline.privacy import lexicon as lx
from pipeline.privacy.engine import import_presidio
from pipeline.privacy.entities import (
    ADDRESS,
    DOB,
    EMAIL,
    HANDLE,
    NINO,
    OFFICER,
    PERSON,
    PHONE,
    URL,
)
from pipeline.privacy.phones import SPOKEN_ITEM, phone_digits, uk_number

import_presidio()  # before presidio itself: see engine.import_presidio

from presidio_analyzer import LocalRecognizer, RecognizerResult  # noqa: E402
from presidio_analyzer.predefined_recognizers import SpacyRecognizer  # noqa: E402

RULES_NAME = "yousaid_rules"
NAMES_NAME = "yousaid_names"
NER_NAME = "yousaid_ner"

_STOP = frozenset(STOP_WORDS) | {"im", "ive", "id", "its"}


def _alt(words: Iterable[str]) -> str:
    """A regex alternation, longest first so "brother-in-law" wins over "brother"."""
    return "|".join(regex.escape(w) for w in sorted(set(words), key=len, reverse=True))


@dataclass(frozen=True)
class Rule:
    entity: str
    pattern: regex.Pattern
    score: float = 0.85
    keep: Callable[[regex.Match], bool] | None = None


def _rule(entity: str, pattern: str, score: float = 0.85, keep=None, flags: int = regex.I) -> Rule:
    return Rule(entity, regex.compile(pattern, flags), score, keep)


def _span(m: regex.Match) -> tuple[int, int]:
    if "pii" in m.re.groupindex and m.start("pii") >= 0:
        start, end = m.span("pii")
    else:
        start, end = m.span()
    text = m.string
    while end > start and text[end - 1] in ".,;:!?)]'\"’”":  # sentence punctuation is not data
        if text[end - 1] == ")" and "(" in text[start:end]:
            break
        end -= 1
    return start, end


class RuleRecognizer(LocalRecognizer):
    """Runs a list of `Rule`s over the text; one presidio recognizer, many entity types."""

    def __init__(
        self, rules: list[Rule], name: str = RULES_NAME, entities: list[str] | None = None
    ) -> None:
        self.rules = rules
        super().__init__(
            supported_entities=entities or sorted({r.entity for r in rules}),
            supported_language="en",
            name=name,
        )

    def load(self) -> None:  # nothing to load: patterns are compiled at import
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        out = []
        for rule in self.rules:
            if entities and rule.entity not in entities:
                continue
            for m in rule.pattern.finditer(text):
                if rule.keep is not None and not rule.keep(m):
                    continue
                start, end = _span(m)
                if end > start:
                    out.append(self._result(rule.entity, start, end, rule.score))
        return out

    def _result(self, entity: str, start: int, end: int, score: float) -> RecognizerResult:
        return RecognizerResult(
            entity_type=entity,
            start=start,
            end=end,
            score=score,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )


# ------------------------------------------------------------------ emails and links
_TLD = (
    r"(?:com|co|uk|org|net|gov|ac|edu|io|me|info|biz|london|eu|ie|de|fr|es|it|nl|us|ca|au|nz|"
    r"in|app|dev|email|online|live|tv|ly|be)"
)
_DOT = r"(?:\s*(?:\.|\[\s*dot\s*\]|\(\s*dot\s*\)|\{\s*dot\s*\}|<\s*dot\s*>)\s*|\s+dot\s+)"
_AT = r"(?:\s*(?:@|\[\s*at\s*\]|\(\s*at\s*\)|\{\s*at\s*\}|<\s*at\s*>)\s*|\s+at\s+)"
_JOIN = rf"(?:{_DOT}|_|-|\s+underscore\s+|\s+dash\s+|\s+hyphen\s+)"
_LOCAL = rf"[a-z0-9][a-z0-9%+'’]*(?:{_JOIN}[a-z0-9][a-z0-9%+'’]*)*"
_PROVIDERS = (
    r"(?:gmail|googlemail|hotmail|yahoo|outlook|icloud|btinternet|aol|protonmail|virginmedia|"
    r"talktalk|sky|live|msn|mail)"
)
_PUBLIC_SITES = (
    "gov.uk",
    "police.uk",
    "nhs.uk",
    "parliament.uk",
    "bbc.co.uk",
    "crimestoppers-uk.org",
    "victimsupport.org.uk",
    "samaritans.org",
    "childline.org.uk",
    "refuge.org.uk",
    "actionfraud.police.uk",
    "tfl.gov.uk",
    "london.gov.uk",
)


def _plain_email(m: regex.Match) -> bool:
    """An email written with a plain " at " must not be a sentence: "reported it online at
    www.met.police.uk" has an everyday word before the " at " and a web address after it."""
    local = m.group("local")
    if lx.norm(local) in _STOP:
        return False
    if regex.search(r"[@\[\](){}<>]", m.group(0)):
        return True  # a real or bracketed "at"
    domain = m.group(0)[len(local) :].split(" at ", 1)[-1].strip().lower()
    plain_word = regex.fullmatch(r"[a-z]+", local.lower()) is not None
    return not domain.startswith("www") and not (plain_word and not lx.rare(local, -12))


def _not_public_site(m: regex.Match) -> bool:
    host = regex.sub(r"^(?:https?://)?(?:www\.)?", "", m.group(0).lower()).split("/")[0]
    return not any(host == s or host.endswith("." + s) for s in _PUBLIC_SITES)


EMAIL_RULES = [
    # the ordinary form, and obfuscated ones: [at] (dot) " at " " dot "
    _rule(
        EMAIL,
        rf"(?<![\w.])(?P<local>{_LOCAL}){_AT}[a-z0-9][a-z0-9-]*(?:{_DOT}[a-z0-9-]+)*{_DOT}{_TLD}\b",
        0.9,
        _plain_email,
    ),
    # "priya at gmail", "jo.smith[at]hotmail" with no top-level domain
    _rule(EMAIL, rf"(?<![\w.])(?P<local>{_LOCAL}){_AT}{_PROVIDERS}\b", 0.8, _plain_email),
]
URL_RULES = [
    _rule(URL, r"\b(?:https?://|www\.)[^\s<>\"'\[\]{}]+", 0.85, _not_public_site),
    _rule(
        URL,
        r"(?<![@\w.-])[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:co\.uk|org\.uk|com|net|org|uk|io|ly|"
        r"be|me|info|london|tv|gl)\b(?:/[^\s<>\"']*)?",
        0.7,
        _not_public_site,
    ),
]

# ------------------------------------------------------------------ phones
# +44 / 0044 / 0 followed by 9-10 more digits, with spaces, dashes or brackets.
PHONE_RULES = [
    _rule(
        PHONE,
        r"(?<![\w+])(?:(?:\+|00)\s?44\s?(?:\(0\)\s?)?|\(?0)(?:\d{2,4}\)?[ -]?\d{3,4}[ -]?\d{3,4}|\d{9,10})(?!\w)",
        0.7,
    ),
    # spelt out digit by digit ("0 7 7 0 0 9 0 0 1 2 3"), or with dots
    _rule(PHONE, r"(?<![\w+])(?:\+\s?4\s?4|0)(?:[\s.\-]?\d){9,10}(?![\w])", 0.6),
    # read out in words ("oh seven seven double-oh 900 321"): kept when it reads as a UK number
    _rule(
        PHONE,
        rf"(?<!\w){SPOKEN_ITEM}(?:[\s,.\-]+{SPOKEN_ITEM}){{5,}}(?!\w)",
        0.7,
        keep=lambda m: uk_number(phone_digits(m.group())),
    ),
]

# ------------------------------------------------------------------ NI numbers (dashes too)
NINO_RULES = [
    _rule(
        NINO,
        r"\b(?!bg|gb|nk|kn|nt|tn|zz)[a-ceghj-pr-tw-z][a-ceghj-npr-tw-z][ -]?\d{2}[ -]?\d{2}[ -]?\d{2}[ -]?[a-d]\b",
        0.85,
    ),
]

# ------------------------------------------------------------------ dates of birth
_M = lx.MONTHS
_DATE = (
    rf"(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}"
    rf"|\d{{1,2}}[/.\-]\d{{1,2}}[/.\-](?:\d{{4}}|\d{{2}})"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?(?:\s+of)?\s+(?:{_M})\.?,?(?:\s+(?:\d{{4}}|'?\d{{2}}))?"
    rf"|(?:{_M})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?)"
)
_DOB_CUE = (
    r"(?:\bborn(?:\s+on)?(?:\s+the)?|\bd\.?\s?o\.?\s?b\b\.?|\bdate\s+of\s+birth|\bbirth\s*date"
    r"|\bbirthday(?:\s+is)?|\bb-?day(?:\s+is)?)"
)
DOB_RULES = [
    _rule(DOB, rf"{_DOB_CUE}\s*(?:is|was|[:=\-])?\s*(?P<pii>{_DATE})(?!\d)", 0.9),
    _rule(
        DOB, r"\b(?:born(?:\s+in)?|year\s+of\s+birth\s*(?:is|:)?)\s*(?P<pii>(?:19|20)\d{2})\b", 0.7
    ),
]

# ------------------------------------------------------------------ social-media handles
_PLATFORM = (
    r"(?:insta(?:gram)?|ig|twitter|tiktok|tik\s*tok|snap(?:chat)?|facebook|fb|threads|youtube|"
    r"twitch|telegram|discord|reddit|bluesky|linkedin)"
)


def _handle_like(m: regex.Match) -> bool:
    """A bare word after "my insta is" is a handle only if it looks like one (digits, _ or .)."""
    handle = m.group("pii").rstrip(".")
    if handle.lower() in _STOP or len(handle) < 3:
        return False
    return bool(m.group("cue")) or bool(regex.search(r"[0-9_.@]", handle))


HANDLE_RULES = [
    _rule(HANDLE, r"(?<![\w.@/])@[a-z0-9_](?:[a-z0-9_.]{0,28}[a-z0-9_])?", 0.85),
    _rule(
        HANDLE,
        rf"\b{_PLATFORM}\b(?:\s*(?:me|is|at|on|as|account|page|id|@|(?P<cue>handle|username|user\s*name|name)))*"
        r"\s*(?:[:=\-]|is|as)?\s*(?P<pii>@?[a-z0-9_][a-z0-9_.]{1,29})",
        0.8,
        _handle_like,
    ),
    _rule(HANDLE, r"(?<![\w/])u/[a-z0-9_-]{3,20}\b", 0.8),
    _rule(
        HANDLE,
        r"\b(?P<cue>user\s*name|handle)\s*(?:is|[:=\-])?\s*(?P<pii>@?[a-z0-9_][a-z0-9_.]{1,29})",
        0.8,
        _handle_like,
    ),
]

# ------------------------------------------------------------------ officers' numbers
_RANK = (
    r"(?:p\.?c\.?s\.?o|w?p\.?c|d\.?c\.?i|d\.?c|d\.?s|p\.?s|d\.?i|sgt|sergeant|constable|officer|"
    r"insp(?:ector)?|supt)"
)
OFFICER_RULES = [
    # "PC Shah 4821": the number after the officer's name
    _rule(
        OFFICER,
        rf"\b(?i:{_RANK})\.?\s+(?:[A-Z][a-z'’-]+\s+){{1,2}}(?i:no\.?\s*|number\s+)?"
        r"(?P<pii>\d{2,6}[A-Za-z]{0,2})\b",
        0.8,
        flags=0,
    ),
    _rule(
        OFFICER, rf"\b{_RANK}\.?\s*(?:no\.?|number|num|#)?\s*(?P<pii>\d{{1,6}}[a-z]{{0,2}})\b", 0.85
    ),
    _rule(
        OFFICER,
        r"\b(?:shoulder|collar|badge|warrant(?:\s+card)?|epaulett?e?|officer(?:['’]?s)?|police\s+id)"
        r"\s*(?:number|no\.?|num|#)\s*(?:is|was|[:\-])?\s*(?P<pii>[a-z]{0,2}\d{1,7}[a-z]{0,2})\b",
        0.9,
    ),
]

# ------------------------------------------------------------------ street addresses
_STREET = _alt(lx.STREET_TYPES)
# "I live on X Close" names a street; "I live in Bethnal Green" or "on the estate" a place
_AREA_WORDS = {
    "green",
    "park",
    "hill",
    "broadway",
    "gate",
    "rise",
    "vale",
    "view",
    "row",
    "estate",
    "house",
    "tower",
    "heights",
    "wharf",
    "yard",
    "walk",
    "parade",
    "square",
    "sq",
}
_STREETS_LIVED_ON = [s for s in lx.STREET_TYPES if s not in _AREA_WORDS]
_QUANTITY = frozenset(
    "minutes mins hours hrs days weeks months years yrs miles mile yards metres meters feet "
    "doors houses flats people cars vans kids children officers police lads men women youths "
    "times mph percent pounds bus buses".split()
)


def _street_words_ok(m: regex.Match) -> bool:
    words = m.group("words").split()
    if any(lx.norm(w) in _STOP or lx.norm(w) in _QUANTITY for w in words):
        return False
    number = m.group("num") if "num" in m.re.groupindex else None
    if number and regex.fullmatch(r"(?:19|20)\d\d", number):
        return False  # "in 2019 Kingsland Road ..." is a year, not a house number
    before = m.string[max(0, m.start() - 4) : m.start()].lower()
    return not (number and before.endswith("the ") and not m.group("flat"))


ADDRESS_RULES = [
    _rule(
        ADDRESS,
        rf"(?<![\w£$.,/-])(?P<flat>(?:flat|apartment|apt|unit|room)\s*\d+[a-z]?\s*,?\s+)?"
        rf"(?:(?:no\.?|number)\s*)?(?P<num>\d{{1,4}}[a-z]?)\s*,?\s+"
        rf"(?P<words>(?:[a-z][a-z'’\-]*\s+){{1,3}})(?:{_STREET})\b\.?",
        0.8,
        _street_words_ok,
    ),
    _rule(
        ADDRESS,
        r"\b(?:live|lives|lived|living|reside|resides|stay|stays)\s+(?:on|at)\s+"
        rf"(?P<pii>(?P<words>(?:[a-z][a-z'’\-]*\s+){{1,3}})(?:{_alt(_STREETS_LIVED_ON)}))\b",
        0.75,
        _street_words_ok,
    ),
]


def rule_recognizer() -> RuleRecognizer:
    return RuleRecognizer(
        EMAIL_RULES
        + URL_RULES
        + PHONE_RULES
        + NINO_RULES
        + DOB_RULES
        + HANDLE_RULES
        + OFFICER_RULES
        + ADDRESS_RULES
    )


# ------------------------------------------------------------------ names after a cue
# a word, keeping "O'Neill" and "Smith-Jones" whole but leaving a possessive "'s" outside
_WORD = r"(?:[a-z]['’])?[a-zà-öø-ÿ]+(?:(?:-|['’](?!s\b))[a-zà-öø-ÿ]+)*"
_WORD_RE = regex.compile(_WORD, regex.I)
_CAPITAL = regex.compile(r"(?:[A-Z]['’])?(?:Ma?c)?[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ]+(?:['’-][A-Za-zà-öø-ÿ]+)*")
_LOWER = regex.compile(r"(?:[a-z]['’])?[a-zà-öø-ÿ]+(?:['’-][a-zà-öø-ÿ]+)*")
_QUALIFIER = (
    r"(?:ex|step|late|former|elderly|downstairs|upstairs|next[\s-]door|younger|older|little|"
    r"big|best|new|old|eldest|youngest|teenage|disabled|vulnerable|lovely|poor|other)"
)
_RELATIONS = _alt(lx.RELATIONS | {"kids", "children", "sons", "daughters", "friends"})
_RELATION_RE = regex.compile(
    rf"\b(?:my|our|his|her|their|your|a|the)\s+(?:{_QUALIFIER}[\s-]*)*(?:{_RELATIONS})"
    rf"(?:['’]?s?\s+(?:{_RELATIONS}))?\b",
    regex.I,
)
_TITLE_RE = regex.compile(rf"\b(?:{_alt(lx.TITLES)})\b\.?", regex.I)
_STRONG_RE = regex.compile(
    r"\b(?:my\s+name\s+is|my\s+name['’]?s|my\s+names|name\s*[:\-]|names?\s+is|called|"
    r"signed|regards|kind\s+regards|best\s+wishes|yours\s+sincerely|sincerely|cheers)\b",
    regex.I,
)
_WEAK_RE = regex.compile(r"\b(?:i['’]\s?m|i\s+am|im|this\s+is)\b", regex.I)
_AND = regex.compile(r"[ \t]*(?:,[ \t]*)?(?:and|&)[ \t]+", regex.I)
_LEAD = regex.compile(r"[ \t]*[,:(\-–]?[ \t]*")
_GAP = regex.compile(r"[ \t]+")
_NON_PERSON_RE = regex.compile(
    r"(?<!\w)(?:" + _alt(lx.NON_PERSONS).replace(r"\ ", r"\s+") + r")(?!\w)", regex.I
)
# "can't", "wont", "you're": verbs a typo or a missing apostrophe turns into a rare word
_CONTRACTION = regex.compile(
    r"(?:['’](?:t|ll|ve|re|d|m)|^(?:cant|wont|dont|didnt|wouldnt|couldnt|shouldnt|isnt|wasnt|"
    r"arent|werent|aint|doesnt|havent|hasnt|hadnt|mustnt|neednt|ive|youre|theyre|thats|whats))$",
    regex.I,
)
_DEMONYM = regex.compile(r"(?:i|ian|ean|ese|ish|ic|an|ch)$")  # Somali, Nigerian, Polish...
_NAME_POS = {"PROPN", "NOUN", "ADJ", "X", "INTJ", ""}  # how the tagger may see a name

# how sure a cue makes us that the next word is a name
STRONG, CUED, WEAK, NONE = 3, 2, 1, 0
_NOT_A_NAME_LABELS = {"GPE", "LOC", "ORG", "NORP", "FAC", "DATE", "TIME", "LANGUAGE", "EVENT"}


class _DocView:
    """What spaCy says about the text: part of speech by token start, entity labels, places."""

    def __init__(self, text: str, nlp_artifacts) -> None:
        doc = getattr(nlp_artifacts, "tokens", None)
        if doc is None or not hasattr(doc, "ents"):
            doc = None
        self.pos = {t.idx: t.pos_ for t in doc} if doc is not None else {}
        self.before = (
            {t.idx: (doc[t.i - 1].lower_, doc[t.i - 1].pos_) for t in doc if t.i}
            if doc is not None
            else {}
        )
        self.ents = (
            [
                (e.start_char, e.end_char, e.label_)
                for e in doc.ents
                if e.label_ in _NOT_A_NAME_LABELS
            ]
            if doc is not None
            else []
        )
        self.places = [m.span() for m in _NON_PERSON_RE.finditer(text)]

    def pos_at(self, start: int) -> str:
        return self.pos.get(start, "")

    def modified(self, start: int) -> bool:
        """The word follows a determiner, a noun or an adjective ("a dog *walker*", "North
        *Ken*"): part of a noun phrase, not a name standing alone."""
        word, pos = self.before.get(start, ("", ""))
        return word in lx.COMPASS or pos in {"DET", "NOUN", "ADJ", "NUM", "PROPN"}

    def blocked(self, start: int, end: int) -> bool:
        """Inside a known place or organisation, or an entity NER labels as something else.

        An ORG that is exactly a guessed name ("Gemma Lowry") is a person mislabelled.
        """
        if self.in_place(start, end):
            return True
        return any(
            s <= start and end <= e and not (label == "ORG" and (s, e) == (start, end))
            for s, e, label in self.ents
        )

    def in_place(self, start: int, end: int) -> bool:
        return any(s <= start and end <= e for s, e in self.places)


def _in(key: str, words: frozenset[str]) -> bool:
    """`key` or its singular is in `words` ("Sergeants", "schools")."""
    return key in words or (key.endswith("s") and key[:-1] in words)


def _role_word(key: str) -> bool:
    """A title or rank, singular or plural ("Sergeants", "PCSOs")."""
    return _in(key, lx.RANK_WORDS) or _in(key, lx.TITLES)


def _capital_ok(word: str, level: int) -> bool:
    key = lx.norm(word)
    if key in _STOP or _in(key, lx.NOT_NAMES) or _role_word(key) or not _CAPITAL.fullmatch(word):
        return False
    if level >= CUED:
        return True
    if level == WEAK:  # "I'm Gareth" but not "I'm British", "I'm Bangladeshi"
        if lx.is_first_name(word) and key not in lx.COMMON_WORD_NAMES:
            return True
        return lx.rare(word, -15) and not _DEMONYM.search(key)
    return False


def _lower_ok(word: str, level: int, pos: str = "") -> bool:
    key = lx.norm(word)
    if key in _STOP or _in(key, lx.NOT_NAMES) or key in lx.TITLES or not _LOWER.fullmatch(word):
        return False
    if _CONTRACTION.search(key):
        return False
    if level >= STRONG:
        return True
    if pos not in _NAME_POS:  # "my son *wont* go", "tried to *nick* my car"
        return False
    if level == CUED:  # "my cousin aisha"; a surname alone after a cue is usually a word
        return (lx.is_first_name(word) and lx.rare(word, -11.5)) or lx.rare(word, -15.5)
    if level == WEAK:
        return (lx.is_first_name(word) and lx.rare(word, -12)) or lx.rare(word, -17)
    return lx.is_first_name(word) and lx.rare(word, -13) and key not in lx.COMMON_WORD_NAMES


def _next_ok(word: str, capital: bool) -> bool:
    """A second or third word of a name, in the first word's case: "Grant *Mills*", "kevin
    *o'hara*" (so "Mr. Jones rang" stops at "Jones")."""
    key = lx.norm(word)
    if key in _STOP or _in(key, lx.NOT_NAMES) or _in(key, lx.PLACE_WORDS) or key in lx.TITLES:
        return False
    if capital:
        return bool(_CAPITAL.fullmatch(word))
    if not _LOWER.fullmatch(word) or _CONTRACTION.search(key):
        return False
    return (lx.is_last_name(word) and lx.rare(word, -14.5)) or lx.rare(word, -16.5)


def _words_from(text: str, pos: int, *, skip_ranks: bool = False):
    """(start, end, word) of the words from `pos`, stopping at punctuation other than spaces."""
    m = _LEAD.match(text, pos)
    pos = m.end()
    first = True
    while True:
        w = _WORD_RE.match(text, pos)
        if not w:
            return
        word = w.group()
        if skip_ranks and first and _role_word(lx.norm(word)):
            pos = w.end()
            if pos < len(text) and text[pos] == ".":
                pos += 1
            g = _GAP.match(text, pos)
            if not g:
                return
            pos = g.end()
            continue
        first = False
        yield w.start(), w.end(), word
        g = _GAP.match(text, w.end())
        if not g:
            return
        pos = g.end()


def _name_after(text: str, pos: int, level: int, view: _DocView, *, skip_ranks: bool = False):
    """The span of a name that starts at `pos` (after a cue), or None."""
    start = end = None
    capital = False
    for i, (s, e, word) in enumerate(_words_from(text, pos, skip_ranks=skip_ranks)):
        if i == 0:
            capital = word[0].isupper()
            ok = _capital_ok(word, level) if capital else _lower_ok(word, level, view.pos_at(s))
        else:
            ok = i < 3 and _next_ok(word, capital)
        if not ok:
            break
        start = s if start is None else start
        end = e
    return None if start is None else (start, end)


class NameRulesRecognizer(RuleRecognizer):
    """Names that follow a cue (a title, a relation, "I'm", "my name is") or a name list."""

    def __init__(self) -> None:
        super().__init__([], name=NAMES_NAME, entities=[PERSON])

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        if entities and PERSON not in entities:
            return []
        view = _DocView(text, nlp_artifacts)
        spans: list[tuple[int, int, int]] = []  # start, end, level
        for regex_, level, ranks in (
            (_TITLE_RE, CUED, True),
            (_RELATION_RE, CUED, False),
            (_STRONG_RE, STRONG, False),
            (_WEAK_RE, WEAK, False),
        ):
            for m in regex_.finditer(text):
                found = _name_after(text, m.end(), level, view, skip_ranks=ranks)
                while found:  # "my kids ruby and finn": the names joined by "and" too
                    spans.append((*found, level))
                    more = _AND.match(text, found[1]) if level >= CUED else None
                    found = more and _name_after(text, more.end(), level, view)
        spans.extend((*s, NONE) for s in _listed_names(text, view))
        out = []
        for start, end, level in spans:
            if level <= WEAK and view.blocked(start, end):
                continue
            out.append(self._result(PERSON, start, end, 0.9 if level >= CUED else 0.7))
        return out


def _listed_names(text: str, view: _DocView):
    """Names with no cue, found through the name lists: "darren walsh", "Grant Mills", "jenny"."""
    words = [(m.start(), m.end(), m.group()) for m in _WORD_RE.finditer(text)]
    i = 0
    while i < len(words):
        s, e, w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        adjacent = nxt is not None and text[e : nxt[0]] in (" ", "  ")
        key = lx.norm(w)
        is_first = lx.is_first_name(w) and not _in(key, lx.NOT_NAMES) and key not in _STOP
        if is_first and adjacent and _pair_ok(w, nxt[2]):
            yield s, nxt[1]
            i += 2
            continue
        if key in lx.RELATIONS or view.modified(s):
            pass  # "my nan", "a dog walker"
        elif w.islower() and _lower_ok(w, NONE, view.pos_at(s)):
            yield s, e
        elif (
            is_first
            and view.pos_at(s) in _NAME_POS
            and _lone_capital_name(w, nxt[2] if adjacent else None)
        ):
            yield s, e
        i += 1


def _lone_capital_name(word: str, following: str | None) -> bool:
    """ "Talk to Femi": a listed first name, not an everyday word, not part of a place name."""
    key = lx.norm(word)
    if not _CAPITAL.fullmatch(word) or key in lx.COMMON_WORD_NAMES or not lx.rare(word, -13):
        return False
    if following is None:
        return True
    return not _in(lx.norm(following), lx.PLACE_WORDS) and not following[0].isupper()


def _pair_ok(first: str, second: str) -> bool:
    if first[0].isupper() != second[0].isupper():
        return False
    if first[0].isupper():
        key = lx.norm(second)
        return (
            _next_ok(second, True)
            and not _in(key, lx.PLACE_WORDS)
            and (lx.is_last_name(second) or lx.rare(second, -13))
        )
    if lx.norm(first) in lx.COMMON_WORD_NAMES or not lx.rare(first, -12.5):
        return False
    return _next_ok(second, False)


# ------------------------------------------------------------------ spaCy NER, checked
_LEADING = (
    lx.TITLES
    | lx.RANK_WORDS
    | lx.RELATIONS
    | {
        "my",
        "our",
        "his",
        "her",
        "their",
        "the",
        "a",
        "an",
        "ex",
        "-",
        ".",
        "dear",
        "hi",
        "hello",
    }
)
_NOT_NAME_POS = {"VERB", "AUX", "ADV", "ADP", "PRON", "DET", "CCONJ", "SCONJ", "PART", "NUM"}


class CheckedSpacyRecognizer(SpacyRecognizer):
    """spaCy's PERSON entities, trimmed of titles and relations, minus places and organisations.

    The small English model tags "Victim Support", "Kent" or "Brexit" PERSON now and then, and
    "daughter chloe" or "Rang" too; a person's name is redacted, a place or a word is not.
    """

    def __init__(self) -> None:
        super().__init__(supported_entities=[PERSON], name=NER_NAME)

    def analyze(self, text: str, entities, nlp_artifacts=None):
        results = super().analyze(text, entities, nlp_artifacts)
        doc = getattr(nlp_artifacts, "tokens", None)
        view = _DocView(text, nlp_artifacts)
        out = []
        for r in results:
            span = _trim(doc, r.start, r.end) if doc is not None else (r.start, r.end)
            if span is None or view.in_place(*span) or _not_a_person(text, *span, view):
                continue
            r.start, r.end = span
            out.append(r)
        return out


def _trim(doc, start: int, end: int) -> tuple[int, int] | None:
    span = doc.char_span(start, end, alignment_mode="expand")
    if span is None:
        return start, end
    tokens = list(span)
    while tokens and (
        lx.norm(tokens[0].text).rstrip(".") in _LEADING
        or tokens[0].pos_ in {"VERB", "AUX"}
        or (not lx.is_first_name(tokens[0].text) and not lx.rare(tokens[0].text, -10.5))
    ):  # "daughter chloe", "Mr Jones", "Call Sam", "Regenerate Woolwich": what follows
        tokens.pop(0)
    while tokens and not _WORD_RE.fullmatch(tokens[-1].text):
        tokens.pop()
    if not tokens:
        return None
    return tokens[0].idx, tokens[-1].idx + len(tokens[-1].text)


def _not_a_person(text: str, start: int, end: int, view: _DocView) -> bool:
    words = [lx.norm(w) for w in _WORD_RE.findall(text[start:end])]
    phrase = " ".join(words)
    if not words or phrase in lx.NON_PERSONS or words[0] in lx.COMPASS:
        return True  # "Kent", "Hounslow West", "North Ken"
    if view.pos_at(start) in _NOT_NAME_POS:
        return True  # "Rang 999", "can't"
    if any(w in lx.NON_PERSONS for w in words):
        return True  # "Woolwich High", "Brexit Britain"
    if all(_role_word(w) or _in(w, lx.NOT_NAMES) or _in(w, lx.PLACE_WORDS) for w in words):
        return True
    if any(_in(w, lx.PLACE_WORDS) for w in words[1:]):
        return True
    after = _WORD_RE.match(text, end + len(text[end:]) - len(text[end:].lstrip()))
    if after and _in(lx.norm(after.group()), lx.PLACE_WORDS):
        return True  # "Finsbury Park station", "Victoria line"
    if len(words) == 1 and not (lx.is_first_name(words[0]) or lx.is_last_name(words[0])):
        if not lx.rare(words[0], -16):  # "Postcode", "Borough": an English word, not a name
            return True
    if len(words) == 1 and not lx.is_first_name(words[0]) and not lx.rare(words[0], -14):
        if not text[:start].strip() or text[:start].rstrip()[-1] in ".!?":
            return True  # "Rang 999 ...": a capitalised everyday word opening a sentence
    if text[start:end].islower():  # NER on lower case guesses; believe it with a first name
        return not any(lx.is_first_name(w) and w not in lx.COMMON_WORD_NAMES for w in words)
    return False
