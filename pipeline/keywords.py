"""Keyword tokens for topic descriptions: lower-cased spaCy lemmas without stop words.

A blank English pipeline with the lookup lemmatiser from spacy-lookups-data works offline (no
model download), so "stations were closed" and "station closure" share the keyword "station".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

# Words that carry no theme in consultation answers, on top of spaCy's English stop words.
EXTRA_STOP_WORDS = frozenset(
    "think feel need like lot thing really just want would also get make way yes know etc oh "
    "please pls ok okay".split()
)
# Where the lookup table's lemma misleads in this domain ("weed" is not the past of "wee").
LEMMA_EXCEPTIONS = {
    "weed": "weed",
    "number": "number",
    "numbers": "number",
    "data": "data",
    "media": "media",
    "pcsos": "pcso",
    "pls": "please",
    "crew": "crew",
}
CASED_EXCEPTIONS = {"Met": "met", "MET": "met"}  # the Metropolitan Police, not "meet"
MAX_CHARS = 50_000_000  # c-TF-IDF joins a topic's comments into one long text


@lru_cache(maxsize=1)
def get_nlp():
    """The blank English pipeline with a lookup lemmatiser, built once per process."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()  # loads the lookup tables from spacy-lookups-data
    nlp.max_length = MAX_CHARS
    return nlp


@lru_cache(maxsize=1)
def _lemma_table():
    return get_nlp().get_pipe("lemmatizer").lookups.get_table("lemma_lookup")


def lemma_of(word: str) -> str:
    """The lower-cased lookup lemma of one token's text (the table is case-sensitive)."""
    if word in CASED_EXCEPTIONS:
        return CASED_EXCEPTIONS[word]
    low = word.lower()
    return LEMMA_EXCEPTIONS.get(low) or _lemma_table().get(low, low).lower()


def stop_words(extra: Iterable[str] = ()) -> frozenset[str]:
    nlp = get_nlp()
    return frozenset(nlp.Defaults.stop_words) | EXTRA_STOP_WORDS | {w.lower() for w in extra}


class KeywordTokenizer:
    """Callable text -> keyword lemmas, with optional consultation-specific stop words."""

    def __init__(self, extra_stop_words: Iterable[str] = ()) -> None:
        self.extra = tuple(sorted({w.lower() for w in extra_stop_words}))
        self._stops: frozenset[str] | None = None

    @property
    def stops(self) -> frozenset[str]:
        if self._stops is None:
            self._stops = stop_words(self.extra)
        return self._stops

    def _keep(self, token) -> str | None:
        if not token.is_alpha or len(token.text) < 2:
            return None
        lemma = lemma_of(token.text)
        if token.lower_ in self.stops or lemma in self.stops or len(lemma) < 2:
            return None
        return lemma

    def __call__(self, text: str) -> list[str]:
        return [lemma for tok in get_nlp().make_doc(text) if (lemma := self._keep(tok))]

    def many(self, texts: Sequence[str], batch_size: int = 256) -> list[list[str]]:
        """Keyword tokens of many texts, batched through spaCy's tokenizer."""
        docs = get_nlp().tokenizer.pipe(texts, batch_size=batch_size)
        return [[lemma for tok in doc if (lemma := self._keep(tok))] for doc in docs]


lemmatise = KeywordTokenizer()  # the default: text -> keyword lemmas


class KeywordAnalyzer:
    """CountVectorizer analyzer: lemma n-grams that never span two comments.

    BERTopic's c-TF-IDF joins a topic's comments with spaces before vectorising, so a plain
    bigram would pair the last word of one comment with the first of the next. Comments passed
    to BERTopic end in a newline; n-grams are built within each newline-separated piece.
    """

    def __init__(
        self, extra_stop_words: Iterable[str] = (), ngram_range: tuple[int, int] = (1, 2)
    ) -> None:
        self.tokenizer = KeywordTokenizer(extra_stop_words)
        self.ngram_range = ngram_range

    def __call__(self, text: str) -> list[str]:
        low, high = self.ngram_range
        features: list[str] = []
        for tokens in self.tokenizer.many([p for p in text.split("\n") if p.strip()]):
            for size in range(low, high + 1):
                for i in range(len(tokens) - size + 1):
                    gram = tokens[i : i + size]
                    if size == 1 or len(set(gram)) == size:  # no "knife knife"
                        features.append(" ".join(gram))
        return features


def keyword_vectorizer(
    extra_stop_words: Iterable[str] = (), ngram_range: tuple[int, int] = (1, 2), min_df: int = 1
):
    """A CountVectorizer whose vocabulary is lemma n-grams, for BERTopic's c-TF-IDF keywords."""
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(
        analyzer=KeywordAnalyzer(extra_stop_words, ngram_range), lowercase=False, min_df=min_df
    )
