"""A consultation workspace: consultation.yaml plus one folder per open question.

Layout (analyst-owned files are tracked; the rest is built):

    DIR/consultation.yaml         title, the export, id/weight/respondent columns, questions, settings
    DIR/export/                   the raw export(s)
    DIR/<question>/codebook.yaml  the question's themes (a starter is written by `discover`)
    DIR/<question>/responses.yaml "we did" per theme;  quotes.yaml: pinned / banned quotes
    DIR/<question>/summaries.yaml the analyst's "you said" paragraph per theme
    DIR/<question>/labels/        labelled.csv, annotations.jsonl, agreement.csv, label_studio.json
    DIR/<question>/data/          interim/ (comments, embeddings) and processed/ (coded, discovery)
    DIR/<question>/models/current model directory (carries its codebook)
    DIR/<question>/reports/       themes.xlsx, report.html, you_said_we_did.docx/.md
    DIR/reports/index.html        the consultation-level page linking every question
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import Field, field_validator, model_validator

from pipeline.errors import YousaidError
from pipeline.settings import SLUG, Section, Settings, parse

CONFIG = "consultation.yaml"
ENV = "YOUSAID_WORKSPACE"


class Source(Section):
    files: tuple[str, ...]  # relative to the workspace folder
    sheet: str | None = None  # .xlsx sheet; None = the first
    header_row: int | None = Field(None, ge=1)  # None: found below any title rows


class Question(Section):
    id: str = Field(pattern=SLUG)
    column: str  # the export's column holding the answers
    text: str = ""  # the question as asked, shown in reports


class Consultation(Section):
    name: str = Field(pattern=SLUG)  # short name: Label Studio projects, file names
    title: str
    source: Source
    id_column: str
    weight_column: str | None = None
    # contract name -> export column, e.g. route: "Which route did you respond through?"
    respondent_columns: dict[str, str] = {}
    questions: tuple[Question, ...] = Field(min_length=1)
    # column -> coded value -> what readers see, e.g. route: {talk_london: Talk London}
    display_names: dict[str, dict[str, str]] = {}
    redaction_allow: tuple[str, ...] = ()  # names safe to show (public figures)
    # more kinds of personal data, label -> regular expression (e.g. case number: "CAD\\d{5}")
    redaction_patterns: dict[str, str] = {}
    settings: Settings = Settings()

    @field_validator("respondent_columns", "display_names", mode="before")
    @classmethod
    def _none_is_empty(cls, value):
        return {} if value is None else value

    @field_validator("redaction_patterns")
    @classmethod
    def _patterns_compile(cls, value: dict[str, str]) -> dict[str, str]:
        for label, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern '{label}' is not a regular expression ({exc})") from None
        return value

    @model_validator(mode="after")
    def _unique_questions(self) -> Consultation:
        ids = [q.id for q in self.questions]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"question ids repeated: {', '.join(dupes)}")
        for name in self.respondent_columns:
            if name in ("id", "text", "weight"):
                raise ValueError(f"respondent column name '{name}' is reserved")
        return self


LAYOUT = {  # inside a question's folder
    "codebook": "codebook.yaml",
    "responses": "responses.yaml",
    "summaries": "summaries.yaml",
    "quotes": "quotes.yaml",
    "labelled": "labels/labelled.csv",
    "annotations": "labels/annotations.jsonl",
    "agreement": "labels/agreement.csv",
    "disagreements": "labels/disagreements.csv",
    "label_studio": "labels/label_studio.json",
    "comments": "data/interim/comments.parquet",
    "rejected": "data/interim/rejected.csv",
    "embeddings": "data/interim/embeddings.npy",
    "embeddings_meta": "data/interim/embeddings.json",
    "coded": "data/processed/coded.parquet",
    "coded_csv": "data/processed/coded.csv",
    "coded_manifest": "data/processed/coded.manifest.json",
    "discovery_xlsx": "data/processed/discovery.xlsx",
    "discovery_html": "data/processed/discovery.html",
    "discovery_json": "data/processed/discovery.json",
    "suggestions": "data/processed/codebook_suggestions.yaml",
    "model_dir": "models/current",
    "reports": "reports",
}


REPORT_FILES = {  # inside a question's reports/ folder
    "xlsx": "themes.xlsx",
    "html": "report.html",
    "docx": "you_said_we_did.docx",
    "md": "you_said_we_did.md",
    "emerging": "emerging.json",
}


@dataclass(frozen=True)
class QuestionPaths:
    """Every file of one question, so no stage spells a path of its own."""

    root: Path
    codebook: Path
    responses: Path
    summaries: Path  # the analyst's "you said" paragraph per theme (replaces the draft)
    quotes: Path
    labelled: Path
    annotations: Path
    agreement: Path
    disagreements: Path
    label_studio: Path
    comments: Path
    rejected: Path
    embeddings: Path
    embeddings_meta: Path
    coded: Path
    coded_csv: Path
    coded_manifest: Path
    discovery_xlsx: Path
    discovery_html: Path
    discovery_json: Path
    suggestions: Path
    model_dir: Path
    reports: Path

    @classmethod
    def under(cls, root: Path) -> QuestionPaths:
        return cls(root=root, **{name: root / rel for name, rel in LAYOUT.items()})


@dataclass(frozen=True)
class Workspace:
    root: Path
    config: Consultation

    @property
    def settings(self) -> Settings:
        return self.config.settings

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG

    @property
    def inputs(self) -> list[Path]:
        return [self.root / f for f in self.config.source.files]

    @property
    def cache_dir(self) -> Path:
        configured = self.settings.embedding.cache_dir
        return self.root / configured if configured else self.root / ".cache" / "embeddings"

    @property
    def redactions_dir(self) -> Path:
        """Where stages keep the redactions they made (pipeline.privacy.store)."""
        return self.root / ".cache" / "redactions"

    @property
    def index(self) -> Path:
        return self.root / "reports" / "index.html"

    def paths(self, question: Question | str) -> QuestionPaths:
        qid = question if isinstance(question, str) else question.id
        return QuestionPaths.under(self.root / qid)

    def question(self, qid: str) -> Question:
        for q in self.config.questions:
            if q.id == qid:
                return q
        known = ", ".join(q.id for q in self.config.questions)
        raise YousaidError(f"{self.config_path}: no question '{qid}' (questions: {known})")

    def select(self, qid: str | None) -> list[Question]:
        """One question by id, or all of them."""
        return [self.question(qid)] if qid else list(self.config.questions)

    def display(self, column: str, value: object) -> str:
        """What a reader sees for a coded value (the code itself when no name is set)."""
        return self.config.display_names.get(column, {}).get(str(value), str(value))

    @property
    def respondent_columns(self) -> list[str]:
        return list(self.config.respondent_columns)


def find_root(path: str | Path | None = None) -> Path:
    """--workspace, else $YOUSAID_WORKSPACE, else the current folder."""
    return Path(path or os.environ.get(ENV) or ".")


def load_workspace(path: str | Path | None = None) -> Workspace:
    root = find_root(path)
    config = root / CONFIG
    if not config.is_file():
        raise YousaidError(
            f"{config}: no consultation workspace here; create one with "
            "`yousaid init DIR --from EXPORT` or pass --workspace DIR"
        )
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise YousaidError(f"{config}: not valid YAML ({' '.join(str(exc).split())})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise YousaidError(f"{config}: cannot be read ({exc})") from None
    if not isinstance(data, dict):
        raise YousaidError(f"{config}: expected a mapping at the top level")
    return Workspace(root, parse(Consultation, data, str(config)))
