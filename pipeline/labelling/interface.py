"""What the analyst sees in Label Studio: the labelling interface and each task's data.

The interface is generated from the codebook with theme *ids* as the stored values
(`<Choice value="name" alias="id"/>`), so renaming a theme never orphans a label. Naming shared
with `pipeline.labelled.annotation_fields`: choices `themes`, stance choices
`stance_<theme_id>`, free-text `note`.

Why it asks what it asks:
- "No theme" and "forgot to tick" must not look the same: the themes carry an explicit
  "None of these themes" choice (stored as `none`) and are `required`, so the labelling screen
  refuses a submission with nothing ticked (the project also turns empty annotations off).
  Both rules live in Label Studio's frontend: its API still accepts an empty result.
- Pre-ticked suggestions look exactly like the annotator's own ticks, so every task shows a
  line (`$hint`, from the task data) saying whether anything ticked is the model's guess to
  check, and the project's instructions (`instructions`) give the codebook and say the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook
from pipeline.errors import InputError
from pipeline.labelled import DEFAULT_SAMPLE, NONE_CHOICE, NOTE_FROM, STANCE_PREFIX, THEMES_FROM

METADATA = ("route", "age_band", "gender", "ethnicity", "borough", "inner_outer")
METADATA_NAMES = {
    "route": "Route",
    "age_band": "Age",
    "gender": "Gender",
    "ethnicity": "Ethnicity",
    "borough": "Borough",
    "inner_outer": "Inner/outer",
}
NONE_NAME = "None of these themes"
REQUIRED_MESSAGE = (
    f"Tick every theme the comment raises, or '{NONE_NAME}' if it raises none: "
    "an answer with nothing ticked is not saved."
)
HINTS = {
    "train": (
        "Anything already ticked below is the model's suggestion, not the answer: check each "
        "tick, untick what does not apply and tick what is missing."
    ),
    "audit": (
        f"Nothing is ticked for you on this comment: tick every theme it raises, or '{NONE_NAME}'."
    ),
}


def metadata_columns(comments: pd.DataFrame, wanted: Sequence[str] = METADATA) -> list[str]:
    """The respondent columns this comments table has, in the order they are shown."""
    return [c for c in wanted if c in comments.columns]


def label_config(codebook: Codebook, metadata: Sequence[str] = ()) -> str:
    """Label Studio XML: multi-label themes (stored as ids) with an exclusive-by-rule
    "None of these themes", required; stances per theme; a note; the task's hint line."""
    if NONE_CHOICE in codebook.by_id:
        raise InputError(
            codebook.path or "codebook",
            f"theme id '{NONE_CHOICE}' is reserved for the 'None of these themes' choice: rename it",
        )
    q = quoteattr
    lines = ["<View>"]
    if codebook.question:
        lines.append(f'  <Header value={q(codebook.question)} size="5"/>')
    if metadata:
        lines.append('  <View style="color: #555; font-size: 0.9em; margin-bottom: 0.5em">')
        lines.append('    <Text name="respondent" value="$respondent"/>')
        lines.append("  </View>")
    lines.append('  <View style="color: #8a4b00; font-size: 0.9em; margin-bottom: 0.5em">')
    lines.append('    <Text name="hint" value="$hint"/>')
    lines.append("  </View>")
    lines.append('  <Text name="text" value="$text"/>')
    lines.append('  <Header value="Themes" size="6"/>')
    lines.append(
        f'  <Choices name="{THEMES_FROM}" toName="text" choice="multiple" showInLine="false" '
        f'required="true" requiredMessage={q(REQUIRED_MESSAGE)}>'
    )
    for theme in codebook.themes:
        about = theme.description
        if theme.group and theme.group in codebook.by_id:
            about = f"Part of '{codebook.by_id[theme.group].name}'. {about}".strip()
        hint = f" hint={q(about)}" if about else ""
        lines.append(f"    <Choice value={q(theme.name)} alias={q(theme.id)}{hint}/>")
    none_hint = "The comment raises none of the themes above (do not tick it with a theme)."
    lines.append(f"    <Choice value={q(NONE_NAME)} alias={q(NONE_CHOICE)} hint={q(none_hint)}/>")
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


def instructions(codebook: Codebook) -> str:
    """The project's instructions (HTML, shown before labelling and on the Instructions
    button): how to answer, that ticks already there are the model's guess, and the codebook."""
    items = []
    for theme in codebook.themes:
        about = theme.description or ""
        if theme.group and theme.group in codebook.by_id:
            about = f"Part of '{codebook.by_id[theme.group].name}'. {about}".strip()
        stances = ", ".join(s.name for s in theme.stances)
        extra = f" <i>Stance: {escape(stances)}.</i>" if stances else ""
        items.append(f"<dt><b>{escape(theme.name)}</b></dt><dd>{escape(about)}{extra}</dd>")
    question = f"<p><b>Question:</b> {escape(codebook.question)}</p>" if codebook.question else ""
    return (
        f"{question}"
        "<p>Tick <b>every</b> theme the comment raises. If it raises none of them, tick "
        f"<b>{escape(NONE_NAME)}</b>, and never together with a theme. An answer with nothing "
        'ticked is not saved: that way "no theme" never looks like "forgot". Skip a comment '
        "you cannot decide rather than guessing.</p>"
        "<p><b>Ticks already there are the model's suggestions, not the answer.</b> Check each "
        "one: untick what does not apply, tick what is missing. Some comments show no "
        "suggestion on purpose; code them from the text alone.</p>"
        f"<h4>Codebook</h4><dl>{''.join(items)}</dl>"
    )


def _cell(value: Any) -> str:
    """A table cell as task text: missing values are empty, never the string 'nan'."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def task_data(
    comments: pd.DataFrame,
    metadata: Sequence[str] = (),
    sample: str = DEFAULT_SAMPLE,
    extra: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One Label Studio task `data` per comment: id, text, each metadata field, a summary line,
    the stream (`sample`: train or audit), the hint line the screen shows, and `extra` fields.

    `data.id` is the comment id: it is how a task is matched to its comment on every push
    and pull; `data.sample` is how a pull knows the label's stream.
    """
    if sample not in HINTS:
        raise ValueError(f"sample must be one of {sorted(HINTS)}, not {sample!r}")
    out = []
    for row in comments.to_dict("records"):
        data: dict[str, Any] = {"id": str(row["id"]), "text": _cell(row.get("text"))}
        shown = []
        for col in metadata:
            value = _cell(row.get(col))
            data[col] = value
            if value:
                shown.append(f"{METADATA_NAMES.get(col, col)}: {value}")
        if metadata:
            data["respondent"] = " · ".join(shown) or "(no respondent details)"
        data["sample"] = sample
        data["hint"] = HINTS[sample]
        data.update(extra or {})
        out.append(data)
    return out
