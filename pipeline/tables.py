"""Reading comment tables from .csv/.xlsx/.parquet and writing outputs atomically."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
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
    header_row: int = 1  # where the header is (title or blank rows above it are skipped)
    preamble: list[str] = field(default_factory=list)  # text of the title rows above the header


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
        # The byte cp1252 (the last resort) cannot decode is the one nothing can: an earlier
        # utf-8 failure (at `first_bad`) may be a perfectly good cp1252 character such as 0x92.
        _raise_undecodable(path, data, exc.start)
    raise AssertionError(f"unreachable (utf-8 failed at byte {first_bad})")


def _raise_undecodable(path: Path, data: bytes, offset: int) -> None:
    """Locate the bad byte as a (row, column) by parsing the prefix leniently."""
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    prefix = data[start:offset].decode("latin-1")
    records = list(csv.reader(io.StringIO(prefix, newline="")))
    header = next(csv.reader(io.StringIO(data[start:].decode("latin-1"), newline="")), [])
    if not records or prefix.endswith(("\n", "\r")):
        # the bad byte opens a new record (a prefix ending in a line break is a finished record)
        row, field = len(records) + 1, 0
    else:
        row, field = len(records), len(records[-1]) - 1
    column = header[field].strip() if 0 <= field < len(header) else None
    raise InputError(
        str(path),
        f"byte 0x{data[offset]:02x} cannot be decoded as utf-8, utf-8-sig or cp1252",
        row=row,
        column=column,
    )


def _filled(record: list) -> int:
    return sum(_present(c) for c in record)


def _header_at(filled: list[int], header_row: int | None, path: Path) -> int:
    """Index of the header: the given row, else the first row with at least two filled cells.

    Why: exports often carry a title row ("Responses exported 14/09/2026") or blank lines above
    the header; a one-column table has its header on the first non-blank row.
    """
    if header_row is not None:
        if header_row > len(filled) or not filled[header_row - 1]:
            raise InputError(str(path), "the header row given is empty or past the end", row=header_row)
        return header_row - 1
    width = max(filled)
    return next(i for i, n in enumerate(filled) if n >= min(2, width))


def _read_csv(path: Path, header_row: int | None = None) -> RawTable:
    data = path.read_bytes()
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise InputError(str(path), "the file is empty")
    text, encoding = _decode(path, data)
    parsed = list(_csv_records(path, text))
    filled = [_filled(r) for _, r in parsed]
    at = _header_at(filled, header_row, path)
    header_row, header = parsed[at]
    records: list[list[str]] = []
    rows: list[int] = []
    for line, record in parsed[at + 1 :]:  # `line`: the row a spreadsheet would show
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
    frame = pd.DataFrame(records, columns=_header_names(path, header, header_row), dtype=str)
    preamble = [c.strip() for _, r in parsed[:at] for c in r if _present(c)]
    return RawTable(frame, rows, encoding, header_row, preamble)


CSV_FIELD_LIMIT = 16 * 1024 * 1024  # characters in one cell; csv's default (128 KiB) is no rule


def _csv_records(path: Path, text: str):
    """Yield (row number, cells); a badly quoted cell stops with an error instead of silently
    swallowing the rows after it (the lenient parser reads them into that one cell)."""
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    row = 0
    while True:
        row += 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _bad_csv(path, text, row, exc) from exc
        yield row, record


def _bad_csv(path: Path, text: str, row: int, exc: csv.Error) -> InputError:
    if "field larger" in str(exc):
        return InputError(
            str(path), f'a cell is longer than {CSV_FIELD_LIMIT} characters (a stray "?)', row=row
        )
    try:  # the lenient parser shows which cell the stray quote opened
        lenient = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        lenient = []
    header = next((r for r in lenient if any(c.strip() for c in r)), [])
    cells = lenient[row - 1] if row - 1 < len(lenient) else []
    field = next((i for i, cell in enumerate(cells) if "\n" in cell or "\r" in cell), None)
    return InputError(
        str(path),
        f'badly quoted cell ({exc}): a stray " would swallow the rows after it; '
        'quote the cell and double any " inside it',
        row=row,
        column=header[field].strip() if field is not None and field < len(header) else None,
    )


def _header_names(path: Path, header: list, row: int = 1) -> list[str]:
    names = [str(h).strip() if h is not None else "" for h in header]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name and name in seen:
            raise InputError(
                str(path),
                f"column name repeated (columns {seen[name] + 1} and {i + 1})",
                row=row,
                column=name,
            )
        seen[name] = i
    return [name or f"unnamed_{i + 1}" for i, name in enumerate(names)]


def _read_xlsx(path: Path, sheet: str | None, header_row: int | None = None) -> RawTable:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=False, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for broken files
        raise InputError(str(path), f"not a readable .xlsx workbook ({exc})") from exc
    if sheet is not None and sheet not in workbook.sheetnames:
        raise InputError(str(path), f"no sheet named '{sheet}' (sheets: {workbook.sheetnames})")
    ws = workbook[sheet] if sheet else workbook.worksheets[0]
    grid = [[cell.value for cell in row] for row in ws.iter_rows(min_row=1, min_col=1)]
    # What was typed, counted before merges are spread: a title merged across the sheet is one cell.
    filled = [_filled(row) for row in grid]
    if not any(filled):
        raise InputError(str(path), "the sheet is empty")
    header_at = _header_at(filled, header_row, path)
    merged = list(ws.merged_cells.ranges)
    # A header cell merged downwards means a two-row header: group labels above sub-headers.
    header_end = max((r.max_row - 1 for r in merged if r.min_row - 1 == header_at), default=0)
    header_end = max(header_end, header_at)
    # Merged cells hold their value in the top-left cell only: spread it over every cell it covers,
    # so a merged header still names its columns and a merged "route" cell tags every row under it.
    for rng in merged:
        value = grid[rng.min_row - 1][rng.min_col - 1]
        for r in range(rng.min_row - 1, min(rng.max_row, len(grid))):
            for c in range(rng.min_col - 1, min(rng.max_col, len(grid[r]))):
                grid[r][c] = value
    band = grid[header_at : header_end + 1]
    names = [  # the lowest label in each column's header band
        next((_cell_text(row[c]) for row in reversed(band) if _present(row[c])), "")
        for c in range(len(grid[0]))
    ]
    for rng in merged:  # a header merged across columns: the first keeps its name, then "name (2)"
        if header_at <= rng.min_row - 1 <= header_end and rng.max_col > rng.min_col:
            first = rng.min_col - 1
            for c in range(first + 1, min(rng.max_col, len(names))):
                if names[c] == names[first]:
                    names[c] = f"{names[first]} ({c - first + 1})"
    records, rows = [], []
    for i in range(header_end + 1, len(grid)):
        if not filled[i]:
            continue
        records.append(["" if v is None else _cell_text(v) for v in grid[i]])
        rows.append(i + 1)
    frame = pd.DataFrame(records, columns=_header_names(path, names, header_at + 1), dtype=str)
    # Columns with no header and nothing in them are formatting, not data
    empty = [
        col
        for col, name in zip(frame.columns, names, strict=True)
        if not name.strip() and not frame[col].str.strip().any()
    ]
    preamble = [_cell_text(v).strip() for row in grid[:header_at] for v in row if _present(v)]
    preamble = list(dict.fromkeys(preamble))  # a merged title is spread over its cells
    return RawTable(frame.drop(columns=empty), rows, None, header_at + 1, preamble)


def _present(value: object) -> bool:
    return value is not None and str(value).strip() != ""


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # ids typed as numbers in Excel come back as 101.0
    return str(value)


def _read_parquet(path: Path) -> RawTable:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise InputError(str(path), f"not a readable parquet file ({exc})") from exc
    # as text, like a csv: ids stored as floats (a column with a gap) read 101, not 101.0
    frame = frame.astype(object).map(lambda v: "" if _missing(v) else _cell_text(v))
    return RawTable(frame, list(range(1, len(frame) + 1)), None)


def _missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and arrays in a cell
        return False


def read_raw(path: str | Path, sheet: str | None = None, header_row: int | None = None) -> RawTable:
    """Read any supported table as strings, with row numbers for error messages.

    `header_row` (1-based, as a spreadsheet shows it) overrides finding the header below titles.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "no such file")
    suffix = path.suffix.lower()
    if suffix not in READABLE:
        raise InputError(str(path), f"unsupported file type '{suffix}' (use {', '.join(READABLE)})")
    if path.is_dir():
        raise InputError(str(path), "is a folder, not a file")
    if path.stat().st_size == 0:
        raise InputError(str(path), "the file is empty (0 bytes)")
    if suffix == ".csv":
        return _read_csv(path, header_row)
    if suffix == ".xlsx":
        return _read_xlsx(path, sheet, header_row)
    return _read_parquet(path)


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are for sharing
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
