"""Reading comment tables from .csv/.xlsx/.parquet and writing outputs atomically."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.errors import InputError

ENCODINGS = ("utf-8", "cp1252")  # utf-8 with a BOM is reported as utf-8-sig
READABLE = (".csv", ".xlsx", ".parquet")


@dataclass
class RawTable:
    """A table as read, before validation: every cell a string, plus where each row came from."""

    frame: pd.DataFrame  # all columns as str (missing cells as "")
    rows: list[int]  # the row number a person would see in a spreadsheet for each record
    encoding: str | None  # for text files, the encoding that decoded it


def _decode(path: Path, data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            _raise_undecodable(path, data, exc.start + 3)
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        _raise_undecodable(path, data, min(first_bad, exc.start))
    raise AssertionError("unreachable")


def _raise_undecodable(path: Path, data: bytes, offset: int) -> None:
    """Locate the bad byte as a (row, column) by parsing the prefix leniently."""
    prefix = data[:offset].decode("latin-1")
    records = list(csv.reader(io.StringIO(prefix, newline="")))
    header = next(csv.reader(io.StringIO(data.decode("latin-1"), newline="")), [])
    row = max(len(records), 1)
    field = len(records[-1]) - 1 if records else 0
    column = header[field] if 0 <= field < len(header) else None
    raise InputError(
        str(path),
        f"byte 0x{data[offset]:02x} cannot be decoded as utf-8, utf-8-sig or cp1252",
        row=row,
        column=column,
    )


def _read_csv(path: Path) -> RawTable:
    data = path.read_bytes()
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise InputError(str(path), "the file is empty")
    text, encoding = _decode(path, data)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    records: list[list[str]] = []
    rows: list[int] = []
    for line, record in enumerate(reader, start=2):  # the row a spreadsheet would show
        if not any(cell.strip() for cell in record):
            continue  # blank lines are layout, not answers
        if len(record) > len(header):
            extra = record[len(header) :]
            if any(cell.strip() for cell in extra):
                raise InputError(
                    str(path),
                    f"{len(record)} fields but the header has {len(header)} "
                    "(an unquoted comma or a missing quote?)",
                    row=line,
                )
            record = record[: len(header)]
        records.append(record + [""] * (len(header) - len(record)))
        rows.append(line)
    frame = pd.DataFrame(records, columns=_header_names(path, header), dtype=str)
    return RawTable(frame, rows, encoding)


def _header_names(path: Path, header: list) -> list[str]:
    names = [str(h).strip() if h is not None else "" for h in header]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name and name in seen:
            raise InputError(
                str(path), f"column name repeated (columns {seen[name] + 1} and {i + 1})",
                row=1, column=name,
            )
        seen[name] = i
    return [name or f"unnamed_{i + 1}" for i, name in enumerate(names)]


def _read_xlsx(path: Path, sheet: str | None) -> RawTable:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=False, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for broken files
        raise InputError(str(path), f"not a readable .xlsx workbook ({exc})") from exc
    if sheet is not None and sheet not in workbook.sheetnames:
        raise InputError(str(path), f"no sheet named '{sheet}' (sheets: {workbook.sheetnames})")
    ws = workbook[sheet] if sheet else workbook.worksheets[0]
    # Merged cells hold their value in the top-left cell only: spread it so a merged header
    # ("Q5 What is missing" over two columns) still names every column it covers.
    grid = [[cell.value for cell in row] for row in ws.iter_rows()]
    for rng in ws.merged_cells.ranges:
        value = grid[rng.min_row - 1][rng.min_col - 1]
        for r in range(rng.min_row - 1, rng.max_row):
            for c in range(rng.min_col - 1, rng.max_col):
                grid[r][c] = value if r == rng.min_row - 1 else grid[r][c]
    # Skip the blank (or title-only) rows above the header: the header is the first row
    # with at least two filled cells, or the first non-blank row of a one-column sheet.
    filled = [sum(v is not None and str(v).strip() != "" for v in row) for row in grid]
    if not any(filled):
        raise InputError(str(path), "the sheet is empty")
    width = max(filled)
    header_at = next(i for i, n in enumerate(filled) if n >= min(2, width))
    header = _header_names(path, grid[header_at])
    records, rows = [], []
    for i in range(header_at + 1, len(grid)):
        if not filled[i]:
            continue
        records.append(["" if v is None else _cell_text(v) for v in grid[i]])
        rows.append(i + 1)
    frame = pd.DataFrame(records, columns=header, dtype=str)
    return RawTable(frame, rows, None)


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # ids typed as numbers in Excel come back as 101.0
    return str(value)


def _read_parquet(path: Path) -> RawTable:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise InputError(str(path), f"not a readable parquet file ({exc})") from exc
    frame = frame.astype(object).where(frame.notna(), "").astype(str)
    return RawTable(frame, list(range(1, len(frame) + 1)), None)


def read_raw(path: str | Path, sheet: str | None = None) -> RawTable:
    """Read any supported table as strings, with row numbers for error messages."""
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "no such file")
    suffix = path.suffix.lower()
    if suffix not in READABLE:
        raise InputError(str(path), f"unsupported file type '{suffix}' (use {', '.join(READABLE)})")
    if path.stat().st_size == 0:
        raise InputError(str(path), "the file is empty (0 bytes)")
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".xlsx":
        return _read_xlsx(path, sheet)
    return _read_parquet(path)


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, writer: Callable[[Path], None]) -> Path:
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write by extension (.csv, .xlsx, .parquet), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return write_atomic(path, lambda p: frame.to_csv(p, index=False, encoding="utf-8"))
    if suffix == ".parquet":
        return write_atomic(path, lambda p: frame.to_parquet(p, index=False))
    if suffix == ".xlsx":
        from pipeline.safety import excel_safe_frame

        safe = excel_safe_frame(frame)
        return write_atomic(path, lambda p: safe.to_excel(p, index=False, engine="openpyxl"))
    raise InputError(str(path), f"unsupported output type '{suffix}' (use {', '.join(READABLE)})")
