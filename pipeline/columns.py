"""Column names the stages share: one place, so the coded table, the report and Label Studio agree."""

from __future__ import annotations

PROB = "prob_"  # calibrated probability of a theme
CODE = "code_"  # 0/1 decision for a theme
STANCE = "stance_"  # coded stance within a theme


def prob_col(theme_id: str) -> str:
    return f"{PROB}{theme_id}"


def code_col(theme_id: str) -> str:
    return f"{CODE}{theme_id}"


def stance_col(theme_id: str) -> str:
    return f"{STANCE}{theme_id}"
