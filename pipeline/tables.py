"""Reading comment tables from .csv/.xlsx/.parquet and writing outputs atomically."""

from __future__ import annotations

import codecs
import csv
import io
import logging
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import pandas as pd

from pipeline.errors import InputError

log = logging.getLogger(__name__)

ENCODINGS = ("utf-8", "cp1252")  # utf-8 with a BOM is reported as utf-8-sig
READABLE = (".csv", ".xlsx", ".parquet")
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}  # what is sniffed
SNIFF_LINES = 50  # lines of a .csv that csv.Sniffer looks at
HEADER_SEARCH_ROWS = 100  # rows searched for a header holding the expected columns
# Byte-order marks, longest first (UTF-32-LE's starts like UTF-16-LE's)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# One well-formed UTF-8 multi-byte character (RFC 3629): a file holding one is UTF-8 at heart.
_UTF8_CHAR = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_ENCODING_HINT = (
    "set settings.ingest.encoding in consultation.yaml (or `yousaid ingest --encoding`; "
    "`yousaid init --encoding` for a new workspace)"
)


@dataclass
class RawTable:
    """A table as read, before validation: every cell a string, plus where each row came from."""

    frame: pd.DataFrame  # all columns as str (missing cells as "")
    rows: list[int]  # the row number a person would see in a spreadsheet for each record
    encoding: str | None  # for text files, the encoding that decoded it
    header_row: int = 1  # where the header is (title or blank rows above it are skipped)
    preamble: list[str] = field(default_factory=list)  # text of the title rows above the header
    delimiter: str | None = None  # for text files, the field separator used
    # .xlsx: column -> (formula cells with no saved value, the first one's reference, e.g. "B4")
    formula_blanks: dict[str, tuple[int, str]] = field(default_factory=dict)


@dataclass
class _Decoded:
    text: str  # leniently decoded (U+FFFD for bad bytes) when `bad` is set
    encoding: str
    bad: int | None = None  # byte offset of the first undecodable byte
    why: str = ""  # what is wrong with that byte, for the error


def _strict(data: bytes, encoding: str, why: str) -> _Decoded:
    try:
        return _Decoded(data.decode(encoding), encoding)
    except UnicodeDecodeError as exc:
        # utf-8-sig counts offsets after its BOM; every other codec from the file's start
        skip = len(codecs.BOM_UTF8) if encoding == "utf-8-sig" else 0
        return _Decoded(data.decode(encoding, "replace"), encoding, exc.start + skip, why)


def _decode(path: Path, data: bytes, encoding: str | None = None) -> _Decoded:
    """The file's text and the encoding that decoded it; a bad byte is located, not replaced.

    Rules, not a detector: survey tools write UTF-8 (with or without a BOM), Excel's "Unicode
    text" is UTF-16 with a BOM, and Excel's plain CSV is cp1252. A file with valid UTF-8
    characters and one byte that is not (a cell pasted from elsewhere) is refused rather than
    read as cp1252, which would turn every "é" into "Ã©". (charset-normalizer, measured on small
    survey exports, named cp1250 or cp775 for a quarter of cp1252 files.)
    """
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
            b"a".decode(encoding, "replace")  # base64 and zlib are codecs, not text encodings
        except LookupError:
            raise InputError(str(path), f"unknown encoding '{encoding}'") from None
        if codec == "utf-8" and data.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        return _strict(
            data,
            encoding,
            f"cannot be decoded as {encoding}, the encoding given "
            "(settings.ingest.encoding or --encoding)",
        )
    for bom, name in _BOMS:
        if data.startswith(bom):
            return _strict(
                data,
                name,
                f"cannot be decoded as {name} (its byte-order mark says so); {_ENCODING_HINT}",
            )
    try:
        return _Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    if _UTF8_CHAR.search(data):
        return _Decoded(
            data.decode("utf-8", "replace"),
            "utf-8",
            first_bad,
            "is not utf-8, but the file has utf-8 characters elsewhere (a mix of encodings); "
            f"fix that cell and save the file as UTF-8, or {_ENCODING_HINT}",
        )
    # No UTF-8 character anywhere: Excel's Windows encoding. An undecodable byte here is one
    # nothing can read (0x81, 0x8d, 0x8f, 0x90, 0x9d); an earlier 0x92 is a good cp1252 "’".
    return _strict(
        data, "cp1252", f"cannot be decoded as utf-8, utf-8-sig or cp1252; {_ENCODING_HINT}"
    )


def _check_not_utf16(path: Path, data: bytes, text: str, encoding: str) -> None:
    """UTF-16 without its BOM decodes "successfully" as UTF-8 with a NUL in every other place."""
    if codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        return
    sample = text[:4096]
    if sample.count("\x00") * 4 < len(sample):
        return
    head = data[:4096]
    order = "utf-16-le" if head[1::2].count(0) >= head[0::2].count(0) else "utf-16-be"
    raise InputError(
        str(path),
        f"every other byte is 0: UTF-16 without a byte-order mark? Set the encoding to {order}: "
        f"{_ENCODING_HINT}",
    )


def _undecodable(
    path: Path, data: bytes, decoded: _Decoded, delimiter: str, expect: Sequence[str]
) -> InputError:
    """Locate the bad byte as a (row, column) by parsing the text before it leniently."""
    assert decoded.bad is not None
    prefix = data[: decoded.bad].decode(decoded.encoding, "replace").removeprefix("\ufeff")
    records = list(csv.reader(io.StringIO(prefix, newline=""), delimiter=delimiter))
    if not records or prefix.endswith(("\n", "\r")):
        # the bad byte opens a new record (a prefix ending in a line break is a finished record)
        row, position = len(records) + 1, 0
    else:
        row, position = len(records), len(records[-1]) - 1
    text = decoded.text.removeprefix("\ufeff")
    everything = list(
        islice(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), HEADER_SEARCH_ROWS)
    )
    column = None
    if everything:
        try:
            at = _header_at(path, [_filled(r) for r in everything], everything, None, expect, "")
        except InputError:
            at = _header_at(path, [_filled(r) for r in everything], everything, None, (), "")
        header = everything[at]
        if at + 1 <= row and 0 <= position < len(header):
            column = header[position].strip()
    return InputError(
        str(path), f"byte 0x{data[decoded.bad]:02x} {decoded.why}", row=row, column=column
    )


def _sniff(text: str) -> str:
    """The field separator, from the first lines (csv.Sniffer, limited to , ; tab |), else ","."""
    lines = [
        line for line in islice(io.StringIO(text, newline=None), SNIFF_LINES * 4) if line.strip()
    ]
    sample = "".join(lines[:SNIFF_LINES])
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        return ","


def _filled(record: Sequence[object]) -> int:
    return sum(_present(c) for c in record)


def _key(name: object) -> str:
    """How header names are compared: case and spacing do not matter (as in pipeline.ingest)."""
    return re.sub(r"\s+", " ", _cell_text(name)).strip().lower()


def _header_at(
    path: Path,
    filled: list[int],
    rows: Sequence[Sequence[object]],
    header_row: int | None,
    expect: Sequence[str],
    where: str,
) -> int:
    """Index of the header: the given row; else the first row holding every expected column;
    else the first row filling at least three quarters of the table's width (and two cells).

    Why: exports often carry a title row ("Responses exported 14/09/2026") or blank lines above
    the header, and a title can fill two cells; a header names (nearly) every column; a
    one-column table has its header on the first non-blank row.
    """
    if header_row is not None:
        if header_row > len(filled) or not filled[header_row - 1]:
            raise InputError(
                str(path), "the header row given is empty or past the end", row=header_row
            )
        return header_row - 1
    width = max(filled)
    enough = min(width, max(2, math.ceil(0.75 * width)))
    first = next(i for i, n in enumerate(filled) if n >= enough)
    if not expect:
        return first
    wanted = {_key(name): name for name in expect}
    best, best_found = first, set()
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        found = {_key(c) for c in row if _present(c)} & wanted.keys()
        if len(found) == len(wanted):
            return i
        if len(found) > len(best_found):
            best, best_found = i, found
    missing = [name for k, name in wanted.items() if k not in best_found]
    shown = list(dict.fromkeys(_cell_text(c).strip() for c in rows[best] if _present(c)))
    has = ", ".join(shown[:12]) + (", ..." if len(shown) > 12 else "")
    looked = min(len(rows), HEADER_SEARCH_ROWS)
    what = (
        "not found" if len(missing) == 1 else f"columns {', '.join(map(repr, missing))} not found"
    )
    raise InputError(
        str(path),
        f"{what} (looked for a header row with {', '.join(repr(e) for e in expect)} in rows 1-{looked}"
        f"{where}; the closest, row {best + 1}, has: {has})",
        row=best + 1,
        column=missing[0] if len(missing) == 1 else None,
    )


def _read_csv(
    path: Path,
    header_row: int | None = None,
    encoding: str | None = None,
    expect: Sequence[str] = (),
) -> RawTable:
    data = path.read_bytes()
    decoded = _decode(path, data, encoding)
    text = decoded.text.removeprefix("\ufeff")  # also a BOM left by an encoding given by name
    if not text.strip():
        raise InputError(str(path), "the file is empty")
    _check_not_utf16(path, data, text, decoded.encoding)
    delimiter = _sniff(text)
    if decoded.bad is not None:
        raise _undecodable(path, data, decoded, delimiter, expect)
    delimiter = _delimiter_with_header(path, text, delimiter, header_row, expect)
    parsed = list(_csv_records(path, text, delimiter))
    filled = [_filled(r) for _, r in parsed]
    where = f", read as {DELIMITERS[delimiter]}-separated"
    at = _header_at(path, filled, [r for _, r in parsed], header_row, expect, where)
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
                    f"(an unquoted {DELIMITERS[delimiter]} or a missing quote?)",
                    row=line,
                )
            record = record[: len(header)]
        records.append(record + [""] * (len(header) - len(record)))
        rows.append(line)
    frame = pd.DataFrame(records, columns=_header_names(path, header, header_row), dtype=str)
    preamble = [c.strip() for _, r in parsed[:at] for c in r if _present(c)]
    return RawTable(frame, rows, decoded.encoding, header_row, preamble, delimiter)


def _delimiter_with_header(
    path: Path, text: str, sniffed: str, header_row: int | None, expect: Sequence[str]
) -> str:
    """The sniffed separator, unless only another one shows a header with the expected columns.

    Why: a title line or long multi-line answers in the first lines can mislead the sniffer;
    the expected column names settle it.
    """
    if not expect or header_row is not None:
        return sniffed
    for delimiter in (sniffed, *(d for d in DELIMITERS if d != sniffed)):
        try:
            head = [r for _, r in islice(_csv_records(path, text, delimiter), HEADER_SEARCH_ROWS)]
            filled = [_filled(r) for r in head]
            if any(filled):
                _header_at(path, filled, head, None, expect, "")
                return delimiter
        except InputError:
            continue
    return sniffed  # none does: parsing with the sniffed one names what is missing


CSV_FIELD_LIMIT = 16 * 1024 * 1024  # characters in one cell; csv's default (128 KiB) is no rule


def _csv_records(path: Path, text: str, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """Yield (row number, cells); a badly quoted cell stops with an error instead of silently
    swallowing the rows after it (the lenient parser reads them into that one cell)."""
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    row = 0
    while True:
        row += 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _bad_csv(path, text, row, exc, delimiter) from exc
        yield row, record


def _bad_csv(path: Path, text: str, row: int, exc: csv.Error, delimiter: str = ",") -> InputError:
    if "field larger" in str(exc):
        return InputError(
            str(path), f'a cell is longer than {CSV_FIELD_LIMIT} characters (a stray "?)', row=row
        )
    try:  # the lenient parser shows which cell the stray quote opened
        lenient = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error:
        lenient = []
    header = next((r for r in lenient if any(c.strip() for c in r)), [])
    cells = lenient[row - 1] if row - 1 < len(lenient) else []
    position = next((i for i, cell in enumerate(cells) if "\n" in cell or "\r" in cell), None)
    return InputError(
        str(path),
        f'badly quoted cell ({exc}): a stray " would swallow the rows after it; '
        'quote the cell and double any " inside it',
        row=row,
        column=header[position].strip()
        if position is not None and position < len(header)
        else None,
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


_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")


def _uncalculated(path: Path, title: str, saved: list[list[object]]) -> list[tuple[int, int]]:
    """(row, column), 0-based, of formula cells with no saved value (`saved`: the data_only grid).

    Why: with data_only=True openpyxl reads the value Excel saved; a formula never calculated
    (a file written by a script, not saved by Excel) reads as empty, and a comment would vanish.
    The workbook's XML is scanned first, so the usual export without formulas costs no second read.
    """
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(path) as z:
            parts = [
                n for n in z.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")
            ]
            if not any(_FORMULA.search(z.read(n)) for n in parts):
                return []
        workbook = load_workbook(path, read_only=True, data_only=False)
        try:
            rows = workbook[title].iter_rows(min_row=1, min_col=1, values_only=True)
            return [
                (r, c)
                for r, (row, values) in enumerate(zip(rows, saved, strict=False))
                for c, (cell, value) in enumerate(zip(row, values, strict=False))
                if value is None and isinstance(cell, str) and cell.startswith("=")
            ]
        finally:
            workbook.close()
    except (zipfile.BadZipFile, KeyError, OSError):
        return []


def _read_xlsx(
    path: Path, sheet: str | None, header_row: int | None = None, expect: Sequence[str] = ()
) -> RawTable:
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

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
    formulas = _uncalculated(path, ws.title, grid)  # before merges are spread over the grid
    merged = list(ws.merged_cells.ranges)
    # Merged cells hold their value in the top-left cell only: spread it over every cell it covers,
    # so a merged header still names its columns and a merged "route" cell tags every row under it.
    for rng in merged:
        value = grid[rng.min_row - 1][rng.min_col - 1]
        for r in range(rng.min_row - 1, min(rng.max_row, len(grid))):
            for c in range(rng.min_col - 1, min(rng.max_col, len(grid[r]))):
                grid[r][c] = value
    where = f" of sheet '{ws.title}'"
    header_at = _header_at(path, filled, grid, header_row, expect, where)
    if header_row is None:  # found inside a header band: the band starts where its merges do
        header_at = min(
            [header_at]
            + [r.min_row - 1 for r in merged if r.min_row - 1 < header_at <= r.max_row - 1]
        )
    # A header cell merged downwards means a two-row header: group labels above sub-headers.
    header_end = max((r.max_row - 1 for r in merged if r.min_row - 1 == header_at), default=0)
    header_end = max(header_end, header_at)
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
    columns = _header_names(path, names, header_at + 1)
    frame = pd.DataFrame(records, columns=columns, dtype=str)
    blanks: dict[str, tuple[int, str]] = {}
    for r, c in formulas:
        if r > header_end and c < len(columns):
            count, first_ref = blanks.get(columns[c], (0, f"{get_column_letter(c + 1)}{r + 1}"))
            blanks[columns[c]] = (count + 1, first_ref)
    for column, (count, first_ref) in blanks.items():
        log.warning(
            "%s: %d formula cell%s in column '%s' (first %s) %s no saved value and read as "
            "empty; open and save the file in Excel to calculate them",
            path,
            count,
            "s" * (count > 1),
            column,
            first_ref,
            "have" if count > 1 else "has",
        )
    # Columns with no header and nothing in them are formatting, not data
    empty = [
        col
        for col, name in zip(frame.columns, names, strict=True)
        if not name.strip() and not frame[col].str.strip().any()
    ]
    preamble = [_cell_text(v).strip() for row in grid[:header_at] for v in row if _present(v)]
    preamble = list(dict.fromkeys(preamble))  # a merged title is spread over its cells
    return RawTable(
        frame.drop(columns=empty), rows, None, header_at + 1, preamble, formula_blanks=blanks
    )


def _present(value: object) -> bool:
    return value is not None and str(value).strip() != ""


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # ids typed as numbers in Excel come back as 101.0
    return "" if value is None else str(value)


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


def read_raw(
    path: str | Path,
    sheet: str | None = None,
    header_row: int | None = None,
    encoding: str | None = None,
    expect: Sequence[str] = (),
) -> RawTable:
    """Read any supported table as strings, with row numbers for error messages.

    `header_row` (1-based, as a spreadsheet shows it) overrides finding the header below titles.
    `encoding` (text files) overrides detection. `expect`: column names the header must hold
    (case and spacing aside): the header is the first row that has them all, and a file without
    them stops with one line naming what is missing and where it looked.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "no such file")
    if path.is_dir():
        raise InputError(str(path), "is a folder, not a file")
    suffix = path.suffix.lower()
    if suffix not in READABLE:
        raise InputError(str(path), f"unsupported file type '{suffix}' (use {', '.join(READABLE)})")
    if path.stat().st_size == 0:
        raise InputError(str(path), "the file is empty (0 bytes)")
    if suffix == ".csv":
        return _read_csv(path, header_row, encoding, expect)
    if suffix == ".xlsx":
        return _read_xlsx(path, sheet, header_row, expect)
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
    """Write by extension (.csv, .xlsx, .parquet), atomically.

    Text cells of .csv and .xlsx that a spreadsheet would run as a formula get a leading `'`
    (pipeline.safety); .parquet keeps values exactly, for the project's own readers.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        from pipeline.safety import excel_safe_frame

        safe_csv = excel_safe_frame(frame)
        # CRLF rows: the csv writer then quotes every cell holding a bare "\r" too; with "\n" it
        # would leave "a\r=cmd()" unquoted and a spreadsheet would start a row at "=cmd()".
        return write_atomic(
            path,
            lambda p: safe_csv.to_csv(p, index=False, encoding="utf-8", lineterminator="\r\n"),
        )
    if suffix == ".parquet":
        return write_atomic(path, lambda p: frame.to_parquet(p, index=False))
    if suffix == ".xlsx":
        from pipeline.safety import excel_safe_frame

        safe = excel_safe_frame(frame)
        return write_atomic(path, lambda p: safe.to_excel(p, index=False, engine="openpyxl"))
    raise InputError(str(path), f"unsupported output type '{suffix}' (use {', '.join(READABLE)})")
