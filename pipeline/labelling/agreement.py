"""How far analysts agree where a comment was coded by two or more of them.

Krippendorff's alpha per theme (nominal, present/absent) says whether a theme is applied
reliably; the disagreements table lists each comment and theme (or stance) they differ on, so
the codebook's wording can be fixed where it is ambiguous.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook
from pipeline.labelled import join_labels
from pipeline.labelling.history import clean_themes, current_answers

PER_THEME_COLUMNS = [
    "theme_id",
    "theme",
    "comments",
    "annotators",
    "coded_by_any",
    "percent_agreement",
    "alpha",
]
DISAGREEMENT_COLUMNS = ["comment_id", "theme_id", "kind", "said_yes", "said_no", "stances"]


def agreement(history: list[dict], codebook: Codebook) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-theme Krippendorff's alpha over comments coded by two or more annotators, and the
    disagreements (theme, or stance where both coded the theme) comment by comment."""
    import krippendorff

    empty = (
        pd.DataFrame(columns=PER_THEME_COLUMNS),
        pd.DataFrame(columns=DISAGREEMENT_COLUMNS),
    )
    answers = current_answers(history)
    if answers.empty:
        return empty
    unknown: set[str] = set()
    answers["themes"] = answers["themes"].map(lambda t: clean_themes(list(t), codebook, unknown))
    n_by_comment = answers.groupby("comment_id")["annotator"].nunique()
    multi = answers[answers["comment_id"].isin(n_by_comment[n_by_comment >= 2].index)]
    if multi.empty:
        return empty
    coders = sorted(multi["annotator"].unique())
    items = sorted(multi["comment_id"].unique())
    ci, ii = {c: k for k, c in enumerate(coders)}, {c: k for k, c in enumerate(items)}
    theme_rows, dis_rows = [], []
    for theme in codebook.themes:
        data = np.full((len(coders), len(items)), np.nan)
        for a in multi.itertuples():
            data[ci[a.annotator], ii[a.comment_id]] = 1.0 if theme.id in a.themes else 0.0
        coded = ~np.isnan(data)
        yes = np.nansum(data, axis=0)
        n = coded.sum(axis=0)
        agree = (yes == 0) | (yes == n)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            alpha = krippendorff.alpha(
                reliability_data=data, level_of_measurement="nominal", value_domain=[0.0, 1.0]
            )
        theme_rows.append(
            {
                "theme_id": theme.id,
                "theme": theme.name,
                "comments": len(items),
                "annotators": len(coders),
                "coded_by_any": int((yes > 0).sum()),
                "percent_agreement": round(float(agree.mean()), 4),
                "alpha": None if np.isnan(alpha) else round(float(alpha), 4),
            }
        )
        for j in np.flatnonzero(~agree):
            said_yes = [coders[i] for i in range(len(coders)) if data[i, j] == 1.0]
            said_no = [coders[i] for i in range(len(coders)) if data[i, j] == 0.0]
            dis_rows.append(
                {
                    "comment_id": items[j],
                    "theme_id": theme.id,
                    "kind": "theme",
                    "said_yes": join_labels(said_yes),
                    "said_no": join_labels(said_no),
                    "stances": "",
                }
            )
        if theme.stances:
            dis_rows.extend(_stance_disagreements(multi, theme.id))
    return (
        pd.DataFrame(theme_rows, columns=PER_THEME_COLUMNS),
        pd.DataFrame(dis_rows, columns=DISAGREEMENT_COLUMNS),
    )


def _stance_disagreements(multi: pd.DataFrame, theme_id: str) -> list[dict]:
    """Comments where two or more annotators coded the theme but gave it different stances."""
    rows = []
    for comment_id, group in multi.groupby("comment_id"):
        both = group[[theme_id in t for t in group["themes"]]]
        if len(both) < 2:
            continue
        given = {
            a.annotator: next(
                (s.split(":", 1)[1] for s in a.stances if s.startswith(theme_id + ":")), ""
            )
            for a in both.itertuples()
        }
        if len(set(given.values())) > 1:
            rows.append(
                {
                    "comment_id": comment_id,
                    "theme_id": theme_id,
                    "kind": "stance",
                    "said_yes": join_labels(sorted(given)),
                    "said_no": "",
                    "stances": join_labels([f"{k}={v or '-'}" for k, v in sorted(given.items())]),
                }
            )
    return rows


def agreement_summary(per_theme: pd.DataFrame, disagreements: pd.DataFrame) -> str:
    """A few lines for stderr: how many comments were double-coded and alpha per theme."""
    if per_theme.empty:
        return "agreement: no comment has answers from two or more annotators yet"
    lines = [
        f"agreement over {int(per_theme['comments'].iloc[0])} comments coded by 2+ of "
        f"{int(per_theme['annotators'].iloc[0])} annotators (Krippendorff's alpha, nominal):"
    ]
    for r in per_theme.itertuples():
        alpha = "  n/a" if r.alpha is None or pd.isna(r.alpha) else f"{r.alpha:5.2f}"
        lines.append(
            f"  {r.theme_id:<28} alpha {alpha}  agree {r.percent_agreement:6.1%}  "
            f"coded {r.coded_by_any}"
        )
    lines.append(f"  {len(disagreements)} disagreements listed")
    return "\n".join(lines)
