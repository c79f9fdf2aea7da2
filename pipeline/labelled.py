"""Hand-labelled data in either contract form: a table with a `labels` column, or a Label Studio
JSON export. Both come out as one tidy frame: id, text, labels (|-joined ids), stance, metadata.

Label Studio convention (shared with `pipeline.labelling.interface`): the theme choices are named
`themes` and store theme ids (the choice alias), plus `none` for the explicit "None of these
themes"; stance choices are named `stance_<theme_id>` and store stance ids, and the free-text
note is `note`.

Every label belongs to a stream, the `sample` column: `audit` (a blind simple random sample: the
only labels that may measure the model's error) or `train` (comments the model chose, shown with
its suggestions; also any labels from elsewhere). `suggestion_changed` says whether the annotator
changed the model's suggestion (empty where none was shown), `explicit_none` whether an empty
label set was the "None of these themes" choice rather than an empty submission.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from pipeline.codebook import Codebook
from pipeline.errors import InputError
from pipeline.safety import unescape_frame
from pipeline.tables import read_raw

log = logging.getLogger(__name__)

THEMES_FROM = "themes"
STANCE_PREFIX = "stance_"
NOTE_FROM = "note"
NONE_CHOICE = "none"  # the "None of these themes" choice's stored value: never a theme id
SAMPLES = ("train", "audit")
DEFAULT_SAMPLE = "train"  # labels without a stream (a hand-made table) were not a random sample
TASK_ONLY = ("respondent", "hint")  # task data shown in Label Studio, not comment metadata


def split_labels(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and value != value):
        return []
    return [p.strip() for p in str(value).split("|") if p.strip()]


def join_labels(ids: list[str]) -> str:
    return "|".join(ids)


def annotation_fields(result: list[dict]) -> dict[str, object]:
    """Themes, stances and note out of one Label Studio annotation's `result` list.

    `none` is True where "None of these themes" was chosen; it is not a theme, so it is never in
    `themes` (ticked together with a theme it is a contradiction the caller reports).
    """
    themes: list[str] = []
    stances: list[str] = []
    note = ""
    for item in result or []:
        name = item.get("from_name", "")
        value = item.get("value", {})
        if name == THEMES_FROM:
            themes.extend(value.get("choices", []))
        elif name.startswith(STANCE_PREFIX):
            theme = name[len(STANCE_PREFIX) :]
            stances.extend(f"{theme}:{c}" for c in value.get("choices", []))
        elif name == NOTE_FROM:
            note = " ".join(value.get("text", []))
    none = NONE_CHOICE in themes
    themes = [t for t in themes if t != NONE_CHOICE]
    return {"themes": themes, "stances": stances, "note": note, "none": none}


def shown_suggestion(annotation: dict) -> list[str] | None:
    """The themes the model suggested on screen when this answer was submitted, None if none.

    Label Studio stores on each annotation the prediction it showed (the project's model
    version's prediction for that task at submission time), so this is what the annotator saw.
    """
    shown = annotation.get("prediction")
    if not isinstance(shown, dict) or "result" not in shown:
        return None
    return list(annotation_fields(shown.get("result") or [])["themes"])


def suggestion_changed(
    submitted: list[str], suggested: list[str] | None, codebook: Codebook | None = None
) -> bool | None:
    """Did the annotator change the suggestion? Compared as the label sets they imply (parents
    added), so unticking a parent the sub-theme implies anyway is not a change. None: none shown."""
    if suggested is None:
        return None
    if codebook is None:
        return set(submitted) != set(suggested)
    known = set(codebook.ids)
    return set(codebook.with_parents([t for t in submitted if t in known])) != set(
        codebook.with_parents([t for t in suggested if t in known])
    )


def _from_label_studio(path: Path, codebook: Codebook | None = None) -> pd.DataFrame:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"not a Label Studio JSON export ({exc})") from exc
    if not isinstance(tasks, list):
        raise InputError(str(path), "expected a JSON list of tasks (Label Studio 'JSON' export)")
    rows = []
    for n, task in enumerate(tasks, start=1):
        data = task.get("data", {})
        if "id" not in data or "text" not in data:
            raise InputError(str(path), "task data needs 'id' and 'text'", row=n, column="data")
        answers = [
            a
            for a in task.get("annotations", [])
            if not a.get("was_cancelled") and a.get("result") is not None and not _contradicts(a)
        ]
        if not answers:
            continue  # not labelled yet (or only skipped): no label, not "no theme"
        latest = max(
            answers,
            key=lambda a: (a.get("updated_at") or a.get("created_at") or "", a.get("id", 0)),
        )
        fields = annotation_fields(latest["result"])
        sample = str(data.get("sample") or DEFAULT_SAMPLE)
        changed = (
            suggestion_changed(list(fields["themes"]), shown_suggestion(latest), codebook)
            if sample == DEFAULT_SAMPLE
            else None
        )
        meta = {k: v for k, v in data.items() if k not in ("id", "text", "sample", *TASK_ONLY)}
        rows.append(
            {
                "id": str(data["id"]),
                "text": str(data["text"]),
                "labels": join_labels(fields["themes"]),
                "stance": join_labels(fields["stances"]),
                "sample": sample,
                "suggestion_changed": changed,
                "explicit_none": bool(fields["none"]),
                "source_row": n,
                **meta,
            }
        )
    return pd.DataFrame(rows)


def read_labelled(path: str | Path, codebook: Codebook) -> pd.DataFrame:
    """Labelled comments, validated against the codebook; sub-themes imply their parents."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        frame = _from_label_studio(path, codebook)
        if frame.empty:
            raise InputError(str(path), "no completed annotations in the export")
    else:
        raw = read_raw(path)
        # tables yousaid wrote quote formula-like cells ('=x): read them back as written
        frame = raw.frame.copy() if path.suffix.lower() == ".parquet" else unescape_frame(raw.frame)
        frame.columns = [
            c.strip().lower() if c.strip().lower() in ("id", "text", "labels") else c
            for c in frame.columns
        ]
        for col in ("id", "text", "labels"):
            if col not in frame.columns:
                raise InputError(
                    str(path), f"required column '{col}' is missing", row=1, column=col
                )
        frame["source_row"] = raw.rows
        frame["stance"] = frame.get("stance", "")
    frame["id"] = frame["id"].astype(str).str.strip()
    _streams(frame, path)

    known = set(codebook.ids)
    unknown: dict[str, list[int]] = {}
    for row, value in zip(frame["source_row"], frame["labels"], strict=True):
        for tid in split_labels(value):
            if tid not in known:
                unknown.setdefault(tid, []).append(int(row))
    if unknown:
        listed = "; ".join(
            f"'{t}' (rows {', '.join(map(str, r[:5]))}{'...' if len(r) > 5 else ''})"
            for t, r in unknown.items()
        )
        first = min(min(r) for r in unknown.values())
        raise InputError(
            str(path), f"theme ids not in the codebook: {listed}", row=first, column="labels"
        )

    frame["labels"] = frame["labels"].map(
        lambda v: join_labels(codebook.with_parents(split_labels(v)))
    )
    dupes = frame["id"].duplicated(keep="last")
    if dupes.any():
        conflicting = (
            frame[frame["id"].isin(frame.loc[dupes, "id"])].groupby("id")["labels"].nunique()
        )
        n_conf = int((conflicting > 1).sum())
        log.warning(
            "%s: %d ids appear more than once (%d with conflicting labels); the latest row wins",
            path,
            int(dupes.sum()),
            n_conf,
        )
        frame = frame[~dupes]
    if frame["labels"].eq("").all():
        raise InputError(
            str(path), "every comment has empty labels: nothing to learn from", column="labels"
        )
    return frame.reset_index(drop=True)


def label_matrix(labels: pd.Series, theme_ids: list[str]):
    """0/1 matrix (n_comments x n_themes) from |-joined labels, columns in `theme_ids` order."""
    import numpy as np

    index = {t: j for j, t in enumerate(theme_ids)}
    y = np.zeros((len(labels), len(theme_ids)), dtype=np.int8)
    for i, value in enumerate(labels):
        for tid in split_labels(value):
            if tid in index:
                y[i, index[tid]] = 1
    return y


def _contradicts(annotation: dict) -> bool:
    """A "None of these themes" tick beside a theme: no label until the annotator fixes it."""
    fields = annotation_fields(annotation.get("result") or [])
    return bool(fields["none"]) and bool(fields["themes"])


def _flag(value: object) -> bool | None:
    """A true/false cell as written by pandas or by hand; None for an empty cell."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("", "nan", "none", "<na>"):
        return None
    if text in ("true", "1", "yes", "y", "t"):
        return True
    if text in ("false", "0", "no", "n", "f"):
        return False
    raise ValueError(text)


def _streams(frame: pd.DataFrame, path: Path) -> None:
    """Fill and check the stream columns in place; files without them are train labels."""
    sample = frame["sample"] if "sample" in frame.columns else pd.Series("", index=frame.index)
    sample = sample.fillna("").astype(str).str.strip().str.lower().replace("", DEFAULT_SAMPLE)
    bad = ~sample.isin(SAMPLES)
    if bad.any():
        first = int(frame.loc[bad[bad].index[0], "source_row"])
        raise InputError(
            str(path),
            f"sample must be {' or '.join(SAMPLES)}, not '{sample[bad].iloc[0]}'",
            row=first,
            column="sample",
        )
    frame["sample"] = sample
    for col, default in (("suggestion_changed", None), ("explicit_none", False)):
        values = frame[col] if col in frame.columns else pd.Series(None, index=frame.index)
        parsed = []
        for row, value in zip(frame["source_row"], values, strict=True):
            try:
                flag = _flag(value)
            except ValueError:
                raise InputError(
                    str(path),
                    f"{col} must be true, false or empty, not '{value}'",
                    row=int(row),
                    column=col,
                ) from None
            parsed.append(default if flag is None else flag)
        frame[col] = pd.array(parsed, dtype="boolean")
    frame.loc[frame["sample"] != DEFAULT_SAMPLE, "suggestion_changed"] = pd.NA
    if "audit_population" in frame.columns:  # how many comments an audit label was drawn from
        population = pd.to_numeric(frame["audit_population"].replace("", None), errors="coerce")
        frame["audit_population"] = population.round().astype("Int64")


def stream_summary(frame: pd.DataFrame) -> dict[str, float | int | None]:
    """How the hand labels were gathered, for the report: audit and train label counts, and how
    often a shown suggestion was accepted unchanged (a high share with few changes is a warning
    that suggestions may be going into the labels unchecked).

    `accepted_unchanged` is the share of train labels shown a suggestion that kept it as it was
    (None when no train label was shown one)."""
    sample = (
        frame["sample"]
        if "sample" in frame.columns
        else pd.Series(DEFAULT_SAMPLE, index=frame.index)
    )
    train = sample.eq(DEFAULT_SAMPLE)
    changed = (
        frame.loc[train, "suggestion_changed"]
        if "suggestion_changed" in frame.columns
        else pd.Series(dtype="boolean")
    ).astype("boolean")
    shown = int(changed.notna().sum())
    return {
        "audit": int(sample.eq("audit").sum()),
        "train": int(train.sum()),
        "train_with_suggestion": shown,
        "accepted_unchanged": round(float((~changed.dropna()).mean()), 4) if shown else None,
    }
