"""Turning raw survey exports into one validated comments table, losing no row.

Every input row ends in exactly one place: the comments table (substantive or flagged as a
non-answer) or the rejected table with a reason. Structural problems (no `id` column, an empty
file, undecodable bytes) stop ingest with a one-line error naming file, row and column.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.errors import InputError, YousaidError
from pipeline.substantive import flag_non_substantive
from pipeline.tables import read_raw

log = logging.getLogger(__name__)

REQUIRED = ("id", "text")
# Columns ingest adds: an input that already has one would be silently overwritten or clash
RESERVED = ("source_file", "source_row", "text_original", "substantive", "non_substantive_reason")
_SPACES = re.compile(r"[\s\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
# Zero-width space, word joiner, BOM, soft hyphen. Not ZWJ/ZWNJ (U+200D/U+200C): they join
# emoji sequences and are spelling inside Persian and Indic words.
_INVISIBLE = re.compile(r"[\u200b\u2060\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Columns where control characters are removed rather than turned into spaces: ids and
# respondent columns are codes, and a spreadsheet writer (openpyxl) refuses these characters.
_NOT_CODES = ("text", "source_file", "source_row")


def normalise_text(text: str) -> str:
    """NFC, no invisible or control characters, single spaces: what the models should see."""
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


@dataclass
class IngestResult:
    comments: pd.DataFrame
    rejected: pd.DataFrame
    encodings: dict[str, str | None] = field(default_factory=dict)  # file -> encoding (text files)
    delimiters: dict[str, str | None] = field(default_factory=dict)  # file -> separator (.csv)
    notes: list[str] = field(default_factory=list)  # what was read in a way the analyst should know

    @property
    def summary(self) -> dict[str, int]:
        substantive = int(self.comments["substantive"].sum()) if len(self.comments) else 0
        return {
            "rows_read": len(self.comments) + len(self.rejected),
            "substantive": substantive,
            "flagged_non_substantive": len(self.comments) - substantive,
            "rejected": len(self.rejected),
        }


def _map_columns(
    raw: pd.DataFrame, path: Path, columns: Mapping[str, str], header_row: int = 1
) -> pd.DataFrame:
    """Rename export headers to contract names; headers match case- and space-insensitively."""

    def key(name: str) -> str:
        return re.sub(r"\s+", " ", str(name)).strip().lower()

    by_key = {key(c): c for c in raw.columns}
    renames: dict[str, str] = {}
    for source, target in columns.items():
        found = by_key.get(key(source))
        if found is None:
            if target in REQUIRED:
                raise InputError(
                    str(path),
                    f"column '{source}' (mapped to '{target}' in consultation.yaml) not found; "
                    f"columns are: {', '.join(map(str, raw.columns))}",
                    row=header_row,
                    column=str(source),
                )
            continue
        renames[found] = target
    # An export column already called like a target (another question's `text`) steps aside,
    # so the mapped one is the only column of that name.
    taken = set(renames.values())
    aside = {c: f"{c} (export)" for c in raw.columns if c in taken and c not in renames}
    frame = raw.rename(columns={**aside, **renames})
    # Contract names match loosely too ("ID", " Text ")
    loose = {
        c: key(c)
        for c in frame.columns
        if key(c) in REQUIRED + ("weight",) and key(c) not in taken and c not in renames.values()
    }
    frame = frame.rename(columns=loose)
    for name in REQUIRED:
        if name not in frame.columns:
            raise InputError(
                str(path),
                f"required column '{name}' is missing "
                f"(columns are: {', '.join(map(str, raw.columns))}); "
                "name the export's column for it in consultation.yaml",
                row=header_row,
                column=name,
            )
    for name in RESERVED:
        if name in frame.columns:
            raise InputError(
                str(path),
                "this column name is reserved for what ingest adds; rename it in the export "
                "(or map it to another name in consultation.yaml)",
                row=header_row,
                column=name,
            )
    return frame


def _check_weights(frame: pd.DataFrame, path: Path, rows: Sequence[int]) -> list[tuple[int, str]]:
    """Problems with the survey weight column as (position, reason); blank weights are allowed."""
    problems = []
    if "weight" not in frame.columns:
        return problems
    for pos, value in enumerate(frame["weight"]):
        value = str(value).strip()
        if not value:
            continue
        try:
            number = float(value)
        except ValueError:
            problems.append((pos, f"weight '{value}' is not a number"))
            continue
        if not number > 0 or number != number or number == float("inf"):
            problems.append((pos, f"weight {value} must be a positive number"))
    return problems


@dataclass
class FileRead:
    """One export read: valid rows, rejected rows with reasons, and how it was read."""

    good: pd.DataFrame
    rejected: pd.DataFrame
    encoding: str | None
    delimiter: str | None
    notes: list[str]


def _remove_controls(frame: pd.DataFrame) -> tuple[dict[str, list[int]], int]:
    """Remove control characters from every column but the text, in place.

    Returns the positions changed per column and how many cells changed.
    """
    changed: dict[str, list[int]] = {}
    for column in frame.columns:
        if column in _NOT_CODES:
            continue
        values = frame[column].astype(str)
        hit = values.str.contains(_CONTROL.pattern, regex=True).to_numpy()
        if hit.any():
            frame[column] = values.str.replace(_CONTROL.pattern, "", regex=True)
            changed[column] = hit.nonzero()[0].tolist()
    return changed, sum(map(len, changed.values()))


def read_file(
    path: str | Path,
    columns: Mapping[str, str] | None = None,
    sheet: str | None = None,
    on_bad_rows: str = "error",
    header_row: int | None = None,
    keep: Sequence[str] | None = None,
    encoding: str | None = None,
) -> FileRead:
    """One export, validated.

    `keep`: the contract columns to keep besides id and text (None = every column); a workspace
    keeps only what it was told about, so another question's answers or an email column never
    travel with the comments. The header must name the id and text columns (as mapped in
    `columns`): it is the first row that does, below any title rows.
    """
    path = Path(path)
    columns = dict(columns or {})
    expect = [next((s for s, t in columns.items() if t == name), name) for name in REQUIRED]
    raw = read_raw(path, sheet=sheet, header_row=header_row, encoding=encoding, expect=expect)
    if raw.frame.empty:
        raise InputError(str(path), "the file has a header but no data rows", row=raw.header_row)
    frame = _map_columns(raw.frame, path, columns, raw.header_row)
    if keep is not None:
        frame = frame[[c for c in frame.columns if c in (*REQUIRED, *keep)]].copy()
    frame.insert(0, "source_row", raw.rows)
    frame.insert(0, "source_file", path.name)
    notes: list[str] = []
    for column, (count, first_ref) in raw.formula_blanks.items():
        notes.append(
            f"{path.name}: {count} formula cell{'s' * (count > 1)} in '{column}' with no saved "
            f"value (first {first_ref}) read as empty"
        )
    controls, n_controls = _remove_controls(frame)
    if controls:
        column, positions = min(controls.items(), key=lambda kv: kv[1][0])
        notes.append(
            f"{path.name}: control characters removed from {n_controls} "
            f"cell{'s' * (n_controls > 1)} (first row {raw.rows[positions[0]]}, "
            f"column '{column}')"
        )
        log.warning(notes[-1])
    frame["id"] = frame["id"].map(lambda v: str(v).strip())
    cleaned = set(controls.get("id", []))  # ids that held control characters

    bad: dict[int, tuple[str, str]] = {}  # position -> (column, reason)
    for pos in (frame["id"] == "").to_numpy().nonzero()[0]:
        removed = " once control characters are removed" if pos in cleaned else ""
        bad[int(pos)] = ("id", f"the id is empty{removed}")
    first_seen: dict[str, int] = {}
    for pos, value in enumerate(frame["id"]):
        if not value or pos in bad:
            continue
        if value in first_seen:
            first_row = raw.rows[first_seen[value]]
            removed = (
                " once control characters are removed" if {pos, first_seen[value]} & cleaned else ""
            )
            bad[pos] = ("id", f"duplicate id '{value}' (first at row {first_row}){removed}")
        else:
            first_seen[value] = pos
    for pos, reason in _check_weights(frame, path, raw.rows):
        bad.setdefault(pos, ("weight", reason))

    if bad and on_bad_rows == "error":
        pos = min(bad)
        column, reason = bad[pos]
        more = (
            f" ({len(bad) - 1} more bad rows; set ingest.on_bad_rows: reject to set them aside)"
            if len(bad) > 1
            else ""
        )
        raise InputError(str(path), reason + more, row=raw.rows[pos], column=column)

    mask = frame.index.isin(list(bad))
    rejected = frame[mask].copy()
    rejected["reject_column"] = [bad[p][0] for p in sorted(bad)]
    rejected["reject_reason"] = [bad[p][1] for p in sorted(bad)]
    log.debug(
        "%s: encoding %s, delimiter %r, header row %d",
        path,
        raw.encoding,
        raw.delimiter,
        raw.header_row,
    )
    return FileRead(
        frame[~mask].reset_index(drop=True),
        rejected.reset_index(drop=True),
        raw.encoding,
        raw.delimiter,
        notes,
    )


def ingest(
    paths: Iterable[str | Path],
    columns: Mapping[str, str] | None = None,
    sheet: str | None = None,
    on_bad_rows: str = "error",
    extra_non_answers: Iterable[str] = (),
    header_row: int | None = None,
    keep: Sequence[str] | None = None,
    encoding: str | None = None,
) -> IngestResult:
    """Read, validate, normalise and flag one or more exports into a single comments table.

    `encoding`: of every text export (None: UTF-8 or UTF-16 by byte-order mark, else UTF-8,
    else cp1252 when the file holds no UTF-8 character at all).
    """
    if on_bad_rows not in ("error", "reject"):
        raise ValueError("on_bad_rows must be 'error' or 'reject'")
    paths = list(paths)
    if not paths:
        raise YousaidError(
            "no input files: list the export under source.files in consultation.yaml"
        )
    kept, rejected, encodings, delimiters, notes = [], [], {}, {}, []
    seen_ids: dict[str, str] = {}  # id -> "file row N" where it was first seen
    for path in paths:
        read = read_file(path, columns, sheet, on_bad_rows, header_row, keep, encoding)
        good, bad = read.good, read.rejected
        encodings[str(path)] = read.encoding
        delimiters[str(path)] = read.delimiter
        notes.extend(read.notes)
        clash = good["id"].isin(seen_ids)
        if clash.any():
            reasons = [f"duplicate id '{i}' (also in {seen_ids[i]})" for i in good.loc[clash, "id"]]
            if on_bad_rows == "error":
                first_row = int(good.loc[clash, "source_row"].iloc[0])
                raise InputError(str(path), reasons[0], row=first_row, column="id")
            moved = good[clash].assign(reject_column="id", reject_reason=reasons)
            bad = pd.concat([bad, moved], ignore_index=True)
            good = good[~clash].reset_index(drop=True)
        name = Path(path).name
        seen_ids.update(
            (i, f"{name} row {r}") for i, r in zip(good["id"], good["source_row"], strict=True)
        )
        kept.append(good)
        rejected.append(bad)

    comments = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=["id", "text"])
    comments = comments.rename(columns={"text": "text_original"})
    at = comments.columns.get_loc("text_original")
    comments.insert(at, "text", comments["text_original"].map(normalise_text))
    if "weight" in comments.columns:  # validated above: blank (NaN) or a positive number
        comments["weight"] = pd.to_numeric(comments["weight"], errors="coerce").astype(float)
    flags = flag_non_substantive(comments["text"], extra_non_answers)
    comments = pd.concat([comments, flags], axis=1)
    rejected_frame = pd.concat(rejected, ignore_index=True) if rejected else pd.DataFrame()
    return IngestResult(comments, rejected_frame, encodings, delimiters, notes)
