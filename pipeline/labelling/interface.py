"""What the analyst sees in Label Studio: the labelling interface and each task's data.

The interface is generated from the codebook with theme *ids* as the stored values
(`<Choice value="name" alias="id"/>`), so renaming a theme never orphans a label. Naming shared
with `pipeline.labelled.annotation_fields`: choices `themes`, stance choices
`stance_<theme_id>`, free-text `note`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook
from pipeline.labelled import NOTE_FROM, STANCE_PREFIX, THEMES_FROM

METADATA = ("route", "age_band", "gender", "ethnicity", "borough", "inner_outer")
METADATA_NAMES = {
    "route": "Route",
    "age_band": "Age",
    "gender": "Gender",
    "ethnicity": "Ethnicity",
    "borough": "Borough",
    "inner_outer": "Inner/outer",
}


def metadata_columns(comments: pd.DataFrame, wanted: Sequence[str] = METADATA) -> list[str]:
    """The respondent columns this comments table has, in the order they are shown."""
    return [c for c in wanted if c in comments.columns]


def label_config(codebook: Codebook, metadata: Sequence[str] = ()) -> str:
    """Label Studio XML: multi-label themes (stored as ids), stances per theme, a note."""
    q = quoteattr
    lines = ["<View>"]
    if codebook.question:
        lines.append(f'  <Header value={q(codebook.question)} size="5"/>')
    if metadata:
        lines.append('  <View style="color: #555; font-size: 0.9em; margin-bottom: 0.5em">')
        lines.append('    <Text name="respondent" value="$respondent"/>')
        lines.append("  </View>")
    lines.append('  <Text name="text" value="$text"/>')
    lines.append('  <Header value="Themes" size="6"/>')
    lines.append(
        f'  <Choices name="{THEMES_FROM}" toName="text" choice="multiple" showInLine="false">'
    )
    for theme in codebook.themes:
        about = theme.description
        if theme.group and theme.group in codebook.by_id:
            about = f"Part of '{codebook.by_id[theme.group].name}'. {about}".strip()
        hint = f" hint={q(about)}" if about else ""
        lines.append(f"    <Choice value={q(theme.name)} alias={q(theme.id)}{hint}/>")
    lines.append("  </Choices>")
    for theme in codebook.themes:
        if not theme.stances:
            continue
        # The frontend compares the alias on some versions and the value on others: give both.
        when = theme.id if "," in theme.name else f"{theme.id},{theme.name}"
        lines.append(
            f'  <View visibleWhen="choice-selected" whenTagName="{THEMES_FROM}" '
            f"whenChoiceValue={q(when)}>"
        )
        lines.append(f'    <Header value={q(theme.name + ": stance")} size="6"/>')
        lines.append(
            f'    <Choices name="{STANCE_PREFIX}{theme.id}" toName="text" choice="single">'
        )
        for stance in theme.stances:
            lines.append(f"      <Choice value={q(stance.name)} alias={q(stance.id)}/>")
        lines.append("    </Choices>")
        lines.append("  </View>")
    lines.append('  <Header value="Note (optional)" size="6"/>')
    lines.append(
        f'  <TextArea name="{NOTE_FROM}" toName="text" rows="2" maxSubmissions="1" '
        'editable="true"/>'
    )
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    """A table cell as task text: missing values are empty, never the string 'nan'."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def task_data(comments: pd.DataFrame, metadata: Sequence[str] = ()) -> list[dict[str, str]]:
    """One Label Studio task `data` per comment: id, text, each metadata field, a summary line.

    `data.id` is the comment id: it is how a task is matched to its comment on every push
    and pull.
    """
    out = []
    for row in comments.to_dict("records"):
        data = {"id": str(row["id"]), "text": _cell(row.get("text"))}
        shown = []
        for col in metadata:
            value = _cell(row.get(col))
            data[col] = value
            if value:
                shown.append(f"{METADATA_NAMES.get(col, col)}: {value}")
        if metadata:
            data["respondent"] = " · ".join(shown) or "(no respondent details)"
        out.append(data)
    return out
