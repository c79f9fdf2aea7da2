"""Typed settings: one model per section of consultation.yaml, defaults defined here only.

Why pydantic with `extra="forbid"`: a typo such as `report.min_bsae` must stop the run with the key
named, not be silently ignored while the default applies.
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.errors import YousaidError

SLUG = r"^[a-z][a-z0-9_]*$"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def known_encoding(name: str) -> str:
    """`name` if Python can decode text with it (cp1252, utf-16, latin-1...), else ValueError."""
    try:
        b"a".decode(name, "replace")  # also refuses codecs that are not text (base64, zlib)
    except LookupError:
        raise ValueError(f"unknown encoding '{name}' (for example utf-8, cp1252, utf-16)") from None
    return name


class IngestSettings(Section):
    on_bad_rows: Literal["error", "reject"] = "error"  # reject: set bad rows aside with a reason
    extra_non_answers: tuple[str, ...] = ()  # more phrases that count as "no answer"
    # The .csv exports' encoding, when detection refuses a file (a mix of encodings) or guesses
    # wrong; None = UTF-8/UTF-16 by byte-order mark, else UTF-8, else cp1252 if no UTF-8 at all.
    encoding: str | None = None

    @field_validator("encoding")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        return None if value is None else known_encoding(value)


# pipeline.embed.FAST_MODEL, named here so that reading settings does not import the embedding stack
FAST_EMBEDDING = "all-MiniLM-L6-v2-static"


class EmbeddingSettings(Section):
    model: str = "all-MiniLM-L6-v2"  # a packaged model (pipeline/embed.py MODELS) or a local folder
    batch_size: int = Field(64, gt=0)
    shard_size: int = Field(2048, gt=0)  # texts per cache shard: a killed embed resumes
    fast: bool | str = False  # true: the static model distilled from MiniLM (docs/scaling.md)
    cache_dir: str | None = None  # per-text cache; None = <workspace>/.cache/embeddings

    @property
    def model_name(self) -> str:
        """The model every stage uses: `fast` swaps in the static model (or the one it names)."""
        if self.fast:
            return self.fast if isinstance(self.fast, str) else FAST_EMBEDDING
        return self.model


Auto = int | Literal["auto"]


class DiscoverSettings(Section):
    """BERTopic settings; "auto" sizes scale with the number of comments."""

    min_topic_size: Auto = "auto"  # HDBSCAN min_cluster_size
    min_samples: Auto = "auto"  # HDBSCAN min_samples (smaller: fewer outliers)
    zeroshot_min_similarity: float = 0.4  # comment-to-theme-prompt cosine to join a codebook theme
    # A cluster is a codebook theme when this share of it was zero-shot assigned to the theme,
    # or when seed_match_share of it is nearest the theme and a top keyword is one of its seeds.
    theme_match_share: float = 0.5
    seed_match_share: float = 0.4
    cluster_selection: Literal["leaf", "eom"] = "leaf"  # eom may lump the rest together
    max_topic_share: float = 0.2  # no cluster may hold more than this share of the comments
    reduce_outliers: bool = True
    outlier_similarity: float = 0.6  # outlier-to-topic cosine needed to reassign an outlier
    umap_neighbors: int = 15
    umap_components: int = 5
    n_keywords: int = 10
    n_examples: int = 5
    candidate_min_size: Auto = "auto"  # smallest cluster worth an analyst's look
    stop_words: tuple[str, ...] = ()  # consultation-specific words to leave out of keywords

    @field_validator("stop_words", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return () if value is None else value

    def cluster_size(self, n: int) -> int:
        """About half the square root of n: 11 for 500 comments, 35 for 5,000, at most 60."""
        if self.min_topic_size != "auto":
            return max(2, int(self.min_topic_size))
        return int(min(60, max(8, round(0.5 * math.sqrt(n)))))

    def samples(self, n: int) -> int:
        if self.min_samples != "auto":
            return max(1, int(self.min_samples))
        return max(2, self.cluster_size(n) // 2)

    def candidate_size(self, n: int) -> int:
        if self.candidate_min_size != "auto":
            return max(1, int(self.candidate_min_size))
        return max(self.n_examples, self.cluster_size(n))


class ClassifierSettings(Section):
    cv: int = Field(4, ge=2)  # folds for metrics, calibration and thresholds
    min_positives: int = Field(
        3, ge=1
    )  # themes with fewer labelled examples are reported, not coded
    min_labelled: int = Field(20, ge=1)  # fewer labelled comments: `train` asks for more labels
    review_doubt: float = Field(
        0.3, gt=0, lt=1
    )  # needs_review when a decision is this likely wrong
    chunk_size: int = Field(5000, gt=0)  # comments coded at a time: bounds memory at 100k+
    C_text: float = Field(4.0, gt=0)
    C_embedding: float = Field(2.0, gt=0)
    # contrastive fine-tuning of the encoder on the labels, up to this many steps (0: keep it
    # frozen; training then takes seconds, not minutes, and scores lower: docs/benchmarks.md)
    fine_tune_steps: int = Field(160, ge=0)
    # encoder layers that learn, from the top; null = every layer (slower, opt-in); the word
    # embeddings never do
    fine_tune_layers: int | None = Field(2, ge=1)
    # each theme's TF-IDF model weighted by its naive-Bayes log-count ratios (NBSVM); false: plain
    # TF-IDF, as before 2026-12-01 (docs/benchmarks.md has both curves)
    naive_bayes_text: bool = True

    def learnable_themes(self, Y) -> int:
        """Themes with at least `min_positives` examples in the label matrix Y."""
        return int((Y.sum(axis=0) >= self.min_positives).sum())

    def enough_labels(self, Y) -> bool:
        """Enough to learn from: `min_labelled` labelled comments and one learnable theme."""
        return len(Y) >= self.min_labelled and self.learnable_themes(Y) > 0

    def estimator_params(self) -> dict:
        """The settings ThemeClassifier takes."""
        keys = (
            "cv",
            "min_positives",
            "C_text",
            "C_embedding",
            "fine_tune_steps",
            "fine_tune_layers",
            "naive_bayes_text",
        )
        return {k: getattr(self, k) for k in keys}


class LabelSettings(Section):
    # Token: LABEL_STUDIO_API_KEY / LABEL_STUDIO_USER_TOKEN or ~/.config/yousaid/label-studio.env
    url: str = "http://127.0.0.1:8080"  # LABEL_STUDIO_URL overrides
    batch: int = Field(50, ge=0)  # comments per `yousaid label push` (--n)
    sampling: Literal["uncertainty", "sequential"] = "uncertainty"  # queue order in Label Studio
    metadata: tuple[str, ...] | None = (
        None  # columns shown to the annotator; None = respondent ones
    )


class ReportSettings(Section):
    group_by: tuple[str, ...] | None = None  # breakdown columns; None = every respondent column
    weight_stratum: str | None = "route"  # weights are rescaled within each value of this column
    min_base: int = Field(30, ge=1)  # groups with fewer substantive comments are never compared
    alpha: float = Field(0.05, gt=0, lt=1)  # significance level, Bonferroni-adjusted per breakdown
    level: float = Field(0.95, gt=0, lt=1)  # interval level for theme counts
    bootstrap: int = Field(2000, gt=0)  # draws for the count intervals
    prior_strength: float = Field(10, ge=0)  # shrink per-theme CV rates to the pooled ones
    n_quotes: int = Field(3, ge=0)  # quotes per theme
    quote_max_chars: int = Field(280, gt=20)  # longer quotes are cut at a sentence end, marked "…"
    quote_min_prob: float = Field(0.6, ge=0, le=1)  # quotes come from comments this sure
    quote_diversity: float = Field(0.3, ge=0, le=1)  # 0 = most typical only, 1 = most varied
    personal_data_column: str = "personal_data"  # optional 0/1 column: quoted only redacted


class Settings(Section):
    """The tunable sections of consultation.yaml (everything but what describes the export)."""

    seed: int = 42
    ingest: IngestSettings = IngestSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    discover: DiscoverSettings = DiscoverSettings()
    classifier: ClassifierSettings = ClassifierSettings()
    label: LabelSettings = LabelSettings()
    report: ReportSettings = ReportSettings()


SECTIONS = tuple(Settings.model_fields)


def _known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed where an unknown one was found, for a "did you mean" hint."""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return []
    return list(model.model_fields)


def validation_message(exc: ValidationError, model: type[BaseModel]) -> str:
    """One line for the first problem, with the key path and a suggestion for typos."""
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _known_keys(model, loc), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        message = f"unknown key '{key}'{hint}"
    else:
        message = f"{key}: {err['msg']}"
    more = len(exc.errors()) - 1
    return message + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


def parse(model: type[BaseModel], data: Any, where: str) -> Any:
    """Validate `data` into `model`, or one YousaidError line naming the file and the key."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise YousaidError(f"{where}: {validation_message(exc, model)}") from None
