"""Write export.xlsx from export.csv (SYNTHETIC test fixture): same data, as an Excel export.

Sheet 'Responses': the title merged across the columns in row 1, row 2 empty, the header in
row 3, data from row 4. 'Submitted' is written as a real date-time cell; everything else as
text, so pd.read_excel(..., dtype=str) gives back exactly the csv's strings.

Run from anywhere:  python tests/data/parks/make_xlsx.py
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "export.csv"
TARGET = HERE / "export.xlsx"
DATE_COLUMN = "Submitted"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def main() -> None:
    with SOURCE.open(encoding="utf-8", newline="") as f:
        lines = list(csv.reader(f))
    title = lines[0][0]
    header_at = next(i for i, row in enumerate(lines) if i > 0 and any(row))
    header, data = lines[header_at], lines[header_at + 1 :]
    date_col = header.index(DATE_COLUMN)

    wb = Workbook()
    ws = wb.active
    ws.title = "Responses"
    ws.cell(row=1, column=1, value=title).font = Font(bold=True, size=13)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    for j, name in enumerate(header, start=1):
        cell = ws.cell(row=3, column=j, value=name)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for i, row in enumerate(data, start=4):
        for j, value in enumerate(row, start=1):
            if value == "":
                continue
            if j - 1 == date_col:
                cell = ws.cell(row=i, column=j, value=dt.datetime.strptime(value, DATE_FORMAT))
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            else:
                ws.cell(row=i, column=j, value=value).number_format = "@"
    for letter, width in zip("ABCDEFGHI", (15, 20, 16, 12, 12, 14, 60, 60, 28), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A4"
    wb.properties.creator = "yousaid test fixture"
    # fixed timestamps so re-running gives the same workbook content
    wb.properties.created = wb.properties.modified = dt.datetime(2026, 9, 14, 9, 0, 0)
    wb.save(TARGET)
    print(f"wrote {TARGET} ({len(data)} rows)")


if __name__ == "__main__":
    main()
