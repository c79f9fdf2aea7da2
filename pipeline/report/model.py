"""Everything the report shows, computed once; the xlsx, HTML, docx, md writers only render it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from pipeline.report.breakdowns import Breakdown


@dataclass
class ReportData:
    title: str
    question: str
    generated: str  # date the report was built
    summary: dict  # headline numbers (see counts.summary_counts)
    themes: pd.DataFrame  # counts.theme_counts, in report order
    breakdowns: list[Breakdown]
    stances: list[dict]  # counts.stance_tables
    quotes: pd.DataFrame  # quotes.choose_quotes
    responses: dict[str, str]  # theme id -> "we did" text
    notes: list[str] = field(default_factory=list)  # method notes, in plain words
    weighting: str = ""  # one sentence: which samples are weighted
    min_base: int = 30
    level: float = 0.95
    # keypoints.key_points (KP_COLUMNS) and keypoints.emerging (EM_COLUMNS); empty if not built
    key_points: pd.DataFrame = field(default_factory=pd.DataFrame)
    emerging: pd.DataFrame = field(default_factory=pd.DataFrame)
    summaries: dict[str, str] = field(default_factory=dict)  # theme id -> analyst's paragraph
    drafts: dict[str, str] = field(default_factory=dict)  # theme id -> draft from key points
    # one row per comment (id, group columns, themes, needs_review, redacted text), for the
    # workbook's Comments sheet: analysts check codes against the words, never unredacted
    comments: pd.DataFrame | None = None

    @property
    def order(self) -> list[str]:
        return self.themes["theme_id"].tolist()

    @property
    def names(self) -> dict[str, str]:
        return dict(zip(self.themes["theme_id"], self.themes["theme"], strict=True))

    def quotes_for(self, theme_id: str) -> pd.DataFrame:
        return self.quotes[self.quotes["theme_id"] == theme_id].sort_values("rank")

    def response_for(self, theme_id: str) -> str | None:
        return self.responses.get(theme_id)

    def points_for(self, theme_id: str) -> pd.DataFrame:
        if self.key_points.empty:
            return self.key_points
        return self.key_points[self.key_points["theme_id"] == theme_id].sort_values("point")

    def summary_for(self, theme_id: str) -> tuple[str, bool]:
        """(paragraph, is_draft): the analyst's own text wins over the draft from key points."""
        if theme_id in self.summaries:
            return self.summaries[theme_id], False
        return self.drafts.get(theme_id, ""), True


PENDING = "Response pending"
