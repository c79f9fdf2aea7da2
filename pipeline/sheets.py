"""One way to write a table to a worksheet people will read: styled header, widths, formats.

Shared by the discovery workbook and the report workbook, so both look and behave alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from pipeline.safety import excel_safe_frame

HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
HEADER_FONT = Font(bold=True, color="FFFFFF")


def cell_value(value: object) -> object:
    """numpy scalars and NaN as plain Python values openpyxl can store (NaN as an empty cell)."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_sheet(
    ws,
    frame: pd.DataFrame,
    formats: dict[str, str] | None = None,
    widths: dict[str, int] | None = None,
    freeze: str = "A2",
    wrap: tuple[str, ...] = (),
    max_width: int = 60,
) -> None:
    """Header row, values (formula-safe), number formats, widths, frozen header, filter."""
    formats = formats or {}
    safe = excel_safe_frame(frame)
    ws.append([str(c) for c in safe.columns])
    for row in safe.itertuples(index=False):
        ws.append([cell_value(v) for v in row])
    for j, col in enumerate(frame.columns, start=1):
        letter = get_column_letter(j)
        head = ws.cell(row=1, column=j)
        head.fill, head.font = HEADER_FILL, HEADER_FONT
        head.alignment = Alignment(wrap_text=True, vertical="center")
        fmt = formats.get(col)
        for r in range(2, len(frame) + 2):
            cell = ws.cell(row=r, column=j)
            if fmt:
                cell.number_format = fmt
            if col in wrap:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        if widths and col in widths:
            width = widths[col]
        else:
            lengths = [len(str(col))] + [len(str(v)) for v in frame[col].head(500) if v is not None]
            width = min(max(lengths) + 2, max_width)
        ws.column_dimensions[letter].width = max(width, 8)
    ws.row_dimensions[1].height = 32
    ws.freeze_panes = freeze
    if len(frame):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(frame.columns))}{len(frame) + 1}"
