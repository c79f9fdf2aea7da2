"""Ingest on good and bad exports: every error is one line naming file, row and column, and
every input row ends up either in the comments table or in the rejected table."""

from __future__ import annotations

import codecs
import csv
import errno
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from pipeline.errors import InputError, YousaidError
from pipeline.ingest import ingest, normalise_text, read_file

ROOT = Path(__file__).resolve().parents[1]

GOOD_ROWS = [
    ("101", "More police on the streets please", "talk_london", "35-44", ""),
    ("102", "No", "poll_representative", "65+", "1.25"),
    ("103", "Knife crime, and youth clubs closing", "poll_boost", "16-24", "0.8"),
]
HEADER = ["id", "text", "route", "age_band", "weight"]


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def good_frame() -> pd.DataFrame:
    return pd.DataFrame(GOOD_ROWS, columns=HEADER)


def csv_text(rows=GOOD_ROWS, header=HEADER) -> str:
    return pd.DataFrame(rows, columns=header).to_csv(index=False)


def error_of(*args, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        ingest(*args, **kwargs)
    return info.value


def assert_one_line(err: InputError, file: str, row: int | None, column: str | None) -> str:
    message = str(err)
    assert "\n" not in message
    assert Path(err.file).name == file and message.startswith(err.file)
    assert err.row == row and err.column == column
    if row is not None:
        assert f"row {row}" in message
    if column is not None:
        assert f"column '{column}'" in message
    return message


# --- good files -------------------------------------------------------------------------------


def check_good(result, file: str) -> None:
    c = result.comments
    assert list(c["id"]) == ["101", "102", "103"]
    assert list(c["source_file"]) == [file] * 3
    assert list(c["text"]) == [r[1] for r in GOOD_ROWS]
    assert list(c["text_original"]) == [r[1] for r in GOOD_ROWS]
    assert list(c["route"]) == ["talk_london", "poll_representative", "poll_boost"]
    assert list(c["age_band"]) == ["35-44", "65+", "16-24"]
    assert c["weight"].isna().tolist() == [True, False, False]
    assert c["weight"].iloc[1:].tolist() == [1.25, 0.8]
    assert list(c["substantive"]) == [True, False, True]
    assert list(c["non_substantive_reason"]) == ["", "no_answer", ""]
    assert result.summary == {
        "rows_read": 3,
        "substantive": 2,
        "flagged_non_substantive": 1,
        "rejected": 0,
    }
    assert result.rejected.empty


def test_good_csv(tmp_path):
    path = write_csv(tmp_path / "export.csv", csv_text())
    result = ingest([path])
    check_good(result, "export.csv")
    assert list(result.comments["source_row"]) == [2, 3, 4]
    assert result.encodings == {str(path): "utf-8"}
    # the contract's column order: provenance, id, text then the original, metadata, flags
    assert list(result.comments.columns) == [
        "source_file",
        "source_row",
        "id",
        "text",
        "text_original",
        "route",
        "age_band",
        "weight",
        "substantive",
        "non_substantive_reason",
    ]


def test_good_xlsx(tmp_path):
    path = tmp_path / "export.xlsx"
    good_frame().to_excel(path, index=False)
    result = ingest([path])
    check_good(result, "export.xlsx")
    assert list(result.comments["source_row"]) == [2, 3, 4]
    assert result.encodings == {str(path): None}


def test_good_parquet(tmp_path):
    path = tmp_path / "export.parquet"
    frame = good_frame()
    frame["id"] = frame["id"].astype(int)  # a numeric id column comes out as text
    frame["weight"] = pd.to_numeric(frame["weight"].replace("", None))
    frame.to_parquet(path, index=False)
    check_good(ingest([path]), "export.parquet")


def test_parquet_float_ids_read_as_integers(tmp_path):
    path = tmp_path / "gappy.parquet"
    pd.DataFrame({"id": [101.0, 102.0], "text": ["Burglary", "Drugs"]}).to_parquet(path)
    assert list(ingest([path]).comments["id"]) == ["101", "102"]


def test_summary_accounts_for_every_row(tmp_path):
    rows = [
        ("1", "More patrols"),
        ("2", ""),
        ("3", "n/a"),
        ("4", "   "),
        ("5", "Scams on the elderly"),
    ]
    path = write_csv(tmp_path / "a.csv", csv_text(rows, ["id", "text"]))
    result = ingest([path])
    assert result.summary == {
        "rows_read": 5,
        "substantive": 2,
        "flagged_non_substantive": 3,
        "rejected": 0,
    }
    assert list(result.comments["non_substantive_reason"]) == [
        "",
        "empty",
        "no_answer",
        "empty",
        "",
    ]


# --- columns ----------------------------------------------------------------------------------


def test_missing_required_column(tmp_path):
    path = write_csv(tmp_path / "export.csv", "id,comment\n1,More police\n")
    message = assert_one_line(error_of([path]), "export.csv", 1, "text")
    assert message.endswith(
        "column 'text': not found (looked for a header row with 'id', 'text' in rows 1-2, "
        "read as comma-separated; the closest, row 1, has: id, comment)"
    )


def test_column_mapping(tmp_path):
    path = write_csv(
        tmp_path / "export.csv",
        "Respondent ID,Q5 What is missing,Borough\nR-1,Stop and search,Ealing\nR-2,Nope,Brent\n",
    )
    result = ingest([path], columns={"Respondent ID": "id", "Q5 What is missing": "text"})
    c = result.comments
    assert list(c["id"]) == ["R-1", "R-2"]
    assert list(c["text"]) == ["Stop and search", "Nope"]
    assert list(c["Borough"]) == ["Ealing", "Brent"]
    assert "Respondent ID" not in c.columns


def test_column_mapping_ignores_case_and_spacing(tmp_path):
    path = write_csv(tmp_path / "export.csv", "respondent  id,Q5 what is MISSING\nR-1,Drugs\n")
    result = ingest([path], columns={"Respondent ID": "id", "Q5 What is missing": "text"})
    assert list(result.comments["id"]) == ["R-1"]


def test_column_mapping_source_not_found(tmp_path):
    path = write_csv(tmp_path / "export.csv", "Respondent,Q5 What is missing\nR-1,Drugs\n")
    err = error_of([path], columns={"Respondent ID": "id", "Q5 What is missing": "text"})
    message = assert_one_line(err, "export.csv", 1, "Respondent ID")
    assert "column 'Respondent ID': not found" in message
    assert "has: Respondent, Q5 What is missing" in message


def test_reserved_column_name(tmp_path):
    path = write_csv(tmp_path / "export.csv", "id,text,source_row\n1,Drugs,7\n")
    message = assert_one_line(error_of([path]), "export.csv", 1, "source_row")
    assert "reserved" in message


def test_metadata_passes_through_untouched(tmp_path):
    text = (
        'id,text,Ethnicity ,notes\n1,Drugs,  Black British ,"a, b"\n2,Scams,Mixed / other,\u00a0x\n'
    )
    result = ingest([write_csv(tmp_path / "m.csv", text)])
    c = result.comments
    assert list(c["Ethnicity"]) == ["  Black British ", "Mixed / other"]
    assert list(c["notes"]) == ["a, b", "\u00a0x"]


# --- bad rows ---------------------------------------------------------------------------------


def test_duplicate_ids_error_names_both_rows(tmp_path):
    path = write_csv(tmp_path / "dup.csv", "id,text\n1,a\n2,b\n1,c\n")
    message = assert_one_line(error_of([path]), "dup.csv", 4, "id")
    assert message == f"{path}, row 4, column 'id': duplicate id '1' (first at row 2)"


def test_several_bad_rows_reported_once(tmp_path):
    path = write_csv(tmp_path / "dup.csv", "id,text\n1,a\n1,b\n,c\n")
    message = assert_one_line(error_of([path]), "dup.csv", 3, "id")
    assert "1 more bad rows" in message and "on_bad_rows: reject" in message


def test_reject_sets_bad_rows_aside_and_accounts_for_all(tmp_path):
    text = "id,text,weight\n1,a,1\n2,b,x\n1,c,1\n,d,1\n3,e,-2\n4,f,\n"
    path = write_csv(tmp_path / "bad.csv", text)
    result = ingest([path], on_bad_rows="reject")
    assert list(result.comments["id"]) == ["1", "4"]
    r = result.rejected
    assert list(r["source_row"]) == [3, 4, 5, 6]
    assert list(r["reject_column"]) == ["weight", "id", "id", "weight"]
    assert list(r["reject_reason"]) == [
        "weight 'x' is not a number",
        "duplicate id '1' (first at row 2)",
        "the id is empty",
        "weight -2 must be a positive number",
    ]
    assert list(r["text"]) == ["b", "c", "d", "e"]
    assert len(result.comments) + len(result.rejected) == 6 == result.summary["rows_read"]
    assert result.summary["rejected"] == 4


def test_every_row_rejected(tmp_path):
    path = write_csv(tmp_path / "all.csv", "id,text,weight\n,a,1\n,b,2\n")
    result = ingest([path], on_bad_rows="reject")
    assert result.comments.empty and list(result.rejected["source_row"]) == [2, 3]
    assert result.summary == {
        "rows_read": 2,
        "substantive": 0,
        "flagged_non_substantive": 0,
        "rejected": 2,
    }


def test_no_input_files():
    with pytest.raises(YousaidError, match="no input files"):
        ingest([])


def test_empty_id(tmp_path):
    path = write_csv(tmp_path / "e.csv", "id,text\n1,a\n   ,b\n")
    message = assert_one_line(error_of([path]), "e.csv", 3, "id")
    assert message.endswith("the id is empty")


@pytest.mark.parametrize(
    ("weight", "reason"),
    [
        ("heavy", "weight 'heavy' is not a number"),
        ("0", "weight 0 must be a positive number"),
        ("-1.5", "weight -1.5 must be a positive number"),
        ("inf", "weight inf must be a positive number"),
        ("nan", "weight nan must be a positive number"),
    ],
)
def test_bad_weight(tmp_path, weight, reason):
    path = write_csv(tmp_path / "w.csv", f"id,text,weight\n1,a,1.0\n2,b,{weight}\n")
    message = assert_one_line(error_of([path]), "w.csv", 3, "weight")
    assert message.endswith(reason)


def test_mapped_weight_column(tmp_path):
    path = write_csv(tmp_path / "w.csv", "ID,Text,Survey weight\n1,a,1.5\n2,b,\n")
    result = ingest([path], columns={"Survey weight": "weight"})
    assert result.comments["weight"].iloc[0] == 1.5 and pd.isna(result.comments["weight"].iloc[1])


# --- empty files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("zero.csv", b"", "the file is empty (0 bytes)"),
        ("zero.xlsx", b"", "the file is empty (0 bytes)"),
        ("zero.parquet", b"", "the file is empty (0 bytes)"),
        ("blank.csv", b"  \r\n\n\t \n", "the file is empty"),
        ("bom_only.csv", b"\xef\xbb\xbf\r\n", "the file is empty"),
    ],
)
def test_empty_files(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    message = assert_one_line(error_of([path]), name, None, None)
    assert message == f"{path}: {reason}"


def test_header_only_file(tmp_path):
    path = write_csv(tmp_path / "header.csv", "id,text,route\r\n")
    message = assert_one_line(error_of([path]), "header.csv", 1, None)
    assert message == f"{path}, row 1: the file has a header but no data rows"


def test_header_only_xlsx(tmp_path):
    path = tmp_path / "header.xlsx"
    pd.DataFrame(columns=["id", "text"]).to_excel(path, index=False)
    message = assert_one_line(error_of([path]), "header.xlsx", 1, None)
    assert message.endswith("the file has a header but no data rows")


def test_unsupported_and_missing_files(tmp_path):
    (tmp_path / "notes.txt").write_text("id,text\n1,a\n")
    assert str(error_of([tmp_path / "notes.txt"])).endswith(
        "unsupported file type '.txt' (use .csv, .xlsx, .parquet)"
    )
    assert str(error_of([tmp_path / "nope.csv"])) == f"{tmp_path / 'nope.csv'}: no such file"


def test_broken_xlsx_and_parquet(tmp_path):
    for name in ("broken.xlsx", "broken.parquet"):
        (tmp_path / name).write_bytes(b"this is not a real file")
        message = str(error_of([tmp_path / name]))
        assert "\n" not in message and message.startswith(f"{tmp_path / name}: not a readable")


# --- encodings and line endings ---------------------------------------------------------------


def test_utf8_bom(tmp_path):
    path = write_csv(tmp_path / "bom.csv", "id,text\n1,Caf\u00e9 closed\n", encoding="utf-8-sig")
    result = ingest([path])
    assert result.encodings[str(path)] == "utf-8-sig"
    assert list(result.comments.columns[:4]) == ["source_file", "source_row", "id", "text"]
    assert list(result.comments["id"]) == ["1"] and list(result.comments["text"]) == [
        "Caf\u00e9 closed"
    ]


def test_cp1252(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(
        b"id,text\n1,The Met\x92s budget\n2,\xa3200 fine for speeding \x96 not enough\n"
    )
    result = ingest([path])
    assert result.encodings[str(path)] == "cp1252"
    assert list(result.comments["text"]) == [
        "The Met\u2019s budget",
        "\u00a3200 fine for speeding \u2013 not enough",
    ]


@pytest.mark.parametrize(
    ("content", "row", "column"),
    [
        (b"id,text\n1,fine\n2,bad \x81 byte\n", 3, "text"),
        (b"id,text\n1,fine\n\x81,bad id\n", 3, "id"),  # at the start of a line
        (b"id,te\x81xt\n1,fine\n", 1, "te\ufffdxt"),  # in the header (the bad byte shown as \ufffd)
        # a cp1252 character earlier (0x92) must not be blamed: the 0x81 on row 4 is the problem
        (b"id,text\n1,Met\x92s\n2,ok\n3,bad \x81\n", 4, "text"),
        (b"\xef\xbb\xbfid,text\n1,ok\n\x81x,bad\n", 3, "id"),  # after a BOM
        (b"Export;14/09\nid;text\n1;ok\n2;bad \x81\n", 4, "text"),  # ; separated, below a title
    ],
)
def test_undecodable_bytes(tmp_path, content, row, column):
    path = tmp_path / "broken.csv"
    path.write_bytes(content)
    message = assert_one_line(error_of([path]), "broken.csv", row, column)
    assert "byte 0x81 cannot be decoded as " in message and "settings.ingest.encoding" in message


def test_windows_line_endings_and_multiline_cells(tmp_path):
    text = (
        "id,text,route\r\n"
        '1,"First line\r\nsecond line, with a comma",talk_london\r\n'
        '2,"He said ""no"" twice",talk_london\r\n'
        "\r\n"
        "3,Plain,poll_boost\r\n"
        "3,Duplicate,poll_boost\r\n"
    )
    path = write_csv(tmp_path / "crlf.csv", text)
    # rows count records, as a spreadsheet shows them: the multi-line cell is one row
    message = assert_one_line(error_of([path]), "crlf.csv", 6, "id")
    assert "duplicate id '3' (first at row 5)" in message
    path = write_csv(tmp_path / "crlf.csv", text.rsplit("3,Duplicate", 1)[0])
    c = ingest([path]).comments
    assert list(c["source_row"]) == [2, 3, 5]
    assert c["text_original"].iloc[0] == "First line\r\nsecond line, with a comma"
    assert c["text"].iloc[0] == "First line second line, with a comma"
    assert c["text"].iloc[1] == 'He said "no" twice'
    assert list(c["route"]) == ["talk_london", "talk_london", "poll_boost"]


def test_stray_quote_does_not_swallow_rows(tmp_path):
    path = write_csv(
        tmp_path / "q.csv", 'id,text\n1,"Unclosed quote, oops\n2,next\n3,"ok"\n4,last\n'
    )
    message = assert_one_line(error_of([path]), "q.csv", 2, "text")
    assert "badly quoted cell" in message
    path = write_csv(tmp_path / "q2.csv", 'id,text\n1,fine\n2,"never closed\n3,gone\n')
    message = assert_one_line(error_of([path]), "q2.csv", 3, "text")
    assert "badly quoted cell" in message


def test_long_cell_is_fine(tmp_path):
    long = "more police " * 20_000  # 240,000 characters, over csv's default field limit
    c = ingest([write_csv(tmp_path / "long.csv", f"id,text\n1,{long}\n")]).comments
    assert c["text"].iloc[0] == long.strip()


def test_repeated_column_name(tmp_path):
    path = write_csv(tmp_path / "r.csv", "\nid,text,text\n1,a,b\n")
    message = assert_one_line(error_of([path]), "r.csv", 2, "text")
    assert message.endswith("column name repeated (columns 2 and 3)")


def test_too_many_fields(tmp_path):
    path = write_csv(tmp_path / "f.csv", "id,text\n1,a\n2,more police, and cctv\n")
    message = assert_one_line(error_of([path]), "f.csv", 3, None)
    assert "3 fields but the header has 2" in message


def test_blank_lines_above_csv_header(tmp_path):
    path = write_csv(tmp_path / "b.csv", "\n,\nid,text\n1,Drugs\n")
    c = ingest([path]).comments
    assert list(c["id"]) == ["1"] and list(c["source_row"]) == [4]
    path = write_csv(tmp_path / "b2.csv", "\nid,comment\n1,Drugs\n")
    assert_one_line(error_of([path]), "b2.csv", 2, "text")


# --- xlsx layouts -----------------------------------------------------------------------------


def save(wb: Workbook, path: Path) -> Path:
    wb.save(path)
    return path


def test_xlsx_blank_first_row_and_title(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws["A2"] = "Police and Crime Plan consultation: export 3 March"
    ws.merge_cells("A2:D2")  # a title spread over the sheet is still only a title
    ws.append([])
    ws.append(["Respondent ID", "Q5 What is missing", "Borough", "weight"])
    ws.append([101, "More police", "Ealing", 1.5])
    ws.append([102.0, "n/a", "Brent", None])
    ws.append([])
    ws.append([103, "Burglary", "Barnet", 2])
    path = save(wb, tmp_path / "titled.xlsx")
    result = ingest([path], columns={"Respondent ID": "id", "Q5 What is missing": "text"})
    c = result.comments
    assert list(c["id"]) == ["101", "102", "103"]  # not "101.0"
    assert list(c["source_row"]) == [5, 6, 8]
    assert list(c["Borough"]) == ["Ealing", "Brent", "Barnet"]
    assert c["weight"].tolist()[0] == 1.5 and c["weight"].tolist()[2] == 2.0
    assert list(c["substantive"]) == [True, False, True]
    # errors name the header row where it really is
    err = error_of([path], columns={"Respondent ID": "id"})
    assert_one_line(err, "titled.xlsx", 4, "text")


def test_xlsx_blank_first_row_and_empty_first_column(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws["B2"], ws["C2"] = "id", "text"
    ws["B3"], ws["C3"] = 7, "Stop and search"
    ws["B4"], ws["C4"] = 7, "again"
    path = save(wb, tmp_path / "offset.xlsx")
    message = assert_one_line(error_of([path]), "offset.xlsx", 4, "id")
    assert "duplicate id '7' (first at row 3)" in message
    ws["B4"] = 8
    c = ingest([save(wb, path)]).comments
    assert list(c["source_row"]) == [3, 4]
    assert "unnamed_1" not in c.columns  # an empty column with no header is layout


def test_xlsx_merged_header_cells(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["Respondent ID", "Q5 What is missing", None, "About you", None])
    ws.append([None, None, None, "Age", "Gender"])
    ws.merge_cells("A1:A2")
    ws.merge_cells("B1:C2")  # the question spans two columns and both header rows
    ws.merge_cells("D1:E1")  # a group label over two sub-headers
    ws.append(["R1", "Nothing about cyclists on pavements", None, "25-34", "Female"])
    ws.append(["R2", "Nope", None, "65+", "Male"])
    path = save(wb, tmp_path / "merged.xlsx")
    result = ingest([path], columns={"Respondent ID": "id", "Q5 What is missing": "text"})
    c = result.comments
    assert list(c["id"]) == ["R1", "R2"]
    assert list(c["text"]) == ["Nothing about cyclists on pavements", "Nope"]
    assert list(c["Age"]) == ["25-34", "65+"] and list(c["Gender"]) == ["Female", "Male"]
    assert list(c["source_row"]) == [3, 4]
    assert list(c["substantive"]) == [True, False]


def test_xlsx_merged_single_header_row(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["id", "Comment", None])
    ws.merge_cells("B1:C1")
    ws.append([1, "Knife crime", None])
    ws.merge_cells("B2:C2")  # a merged data cell keeps its text in the named column
    path = save(wb, tmp_path / "wide.xlsx")
    c = ingest([path], columns={"Comment": "text"}).comments
    assert list(c["text"]) == ["Knife crime"]
    assert "Comment (2)" in c.columns


def test_xlsx_sheet_choice(tmp_path):
    wb = Workbook()
    wb.active.title = "Notes"
    wb.active.append(["nothing", "here"])
    ws = wb.create_sheet("Q5")
    ws.append(["id", "text"])
    ws.append([1, "Scams"])
    path = save(wb, tmp_path / "sheets.xlsx")
    assert list(ingest([path], sheet="Q5").comments["text"]) == ["Scams"]
    message = str(error_of([path], sheet="Q9"))
    assert message == f"{path}: no sheet named 'Q9' (sheets: ['Notes', 'Q5'])"


# --- several files ----------------------------------------------------------------------------


def test_several_files_with_an_id_clash(tmp_path):
    a = write_csv(tmp_path / "online.csv", "id,text\n1,Drugs\n2,Scams\n")
    b = write_csv(tmp_path / "poll.csv", "id,text\n3,Burglary\n2,More police\n")
    message = assert_one_line(error_of([a, b]), "poll.csv", 3, "id")
    assert message.endswith("duplicate id '2' (also in online.csv row 3)")
    result = ingest([a, b], on_bad_rows="reject")
    assert list(result.comments["id"]) == ["1", "2", "3"]
    assert list(result.comments["source_file"]) == ["online.csv", "online.csv", "poll.csv"]
    assert list(result.rejected["source_file"]) == ["poll.csv"]
    assert list(result.rejected["reject_reason"]) == ["duplicate id '2' (also in online.csv row 3)"]
    assert result.summary["rows_read"] == 4


def test_several_file_types_together(tmp_path):
    a = write_csv(tmp_path / "a.csv", "id,text\n1,Drugs\n")
    b = tmp_path / "b.xlsx"
    pd.DataFrame({"id": [2], "text": ["Scams"]}).to_excel(b, index=False)
    c = tmp_path / "c.parquet"
    pd.DataFrame({"id": ["3"], "text": ["n/a"]}).to_parquet(c)
    result = ingest([a, b, c])
    assert list(result.comments["id"]) == ["1", "2", "3"]
    assert set(result.encodings) == {str(a), str(b), str(c)}


def test_read_file_returns_encoding(tmp_path):
    path = write_csv(tmp_path / "a.csv", "id,text\n1,Drugs\n")
    read = read_file(path)
    assert list(read.good["id"]) == ["1"] and read.rejected.empty and read.encoding == "utf-8"


# --- text normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("cafe\u0301 on the high street", "caf\u00e9 on the high street"),
        ("more\u00a0police\u202fplease", "more police please"),
        ("zero\u200bwidth\u2060 join\ufeff", "zerowidth join"),
        ("  tabs\tand\n\nnewlines  ", "tabs and newlines"),
        ("soft\u00adhyphen", "softhyphen"),
        ("bell\x07char", "bell char"),
    ],
)
def test_normalise_text(raw, clean):
    assert normalise_text(raw) == clean


def test_normalisation_keeps_original(tmp_path):
    texts = ["cafe\u0301 closed", "\u00a0\u200b", "No\u00a0police\u200b presence"]
    path = tmp_path / "n.parquet"
    pd.DataFrame({"id": ["1", "2", "3"], "text": texts}).to_parquet(path)
    c = ingest([path]).comments
    assert list(c["text"]) == ["caf\u00e9 closed", "", "No police presence"]
    assert list(c["text_original"]) == texts
    assert list(c["non_substantive_reason"]) == ["", "empty", ""]


# --- the CLI ----------------------------------------------------------------------------------


def yousaid() -> list[str]:
    exe = ROOT / ".venv" / "bin" / "yousaid"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "pipeline"]


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        yousaid() + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def workspace(root: Path, export: str) -> Path:
    """The smallest consultation workspace: one export, one question read from `text`."""
    (root / "consultation.yaml").write_text(
        "name: t\n"
        "title: T\n"
        f"source: {{files: [{export}]}}\n"
        "id_column: id\n"
        "questions: [{id: q, column: text}]\n",
        encoding="utf-8",
    )
    return root


def test_cli_bad_file(tmp_path):
    bad = write_csv(tmp_path / "export.csv", "id,text\n1,a\n2,b\n1,c\n")
    root = workspace(tmp_path, "export.csv")
    out = root / "q" / "data" / "interim" / "comments.parquet"
    proc = run_cli(["ingest", "--workspace", str(root)], tmp_path)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"error: {bad}, row 4, column 'id': duplicate id '1' (first at row 2)"]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not out.exists() and not (root / "q").exists() and not (tmp_path / "data").exists()


def test_cli_good_file(tmp_path):
    write_csv(tmp_path / "export.csv", csv_text())
    root = workspace(tmp_path, "export.csv")
    out = root / "q" / "data" / "interim" / "comments.parquet"
    proc = run_cli(["ingest", "--workspace", str(root)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    # stdout: the files written (the comments table, then the rejected rows)
    assert proc.stdout.strip().splitlines() == [str(out), str(out.with_name("rejected.csv"))]
    assert "rows read 3: substantive 2, flagged non-substantive 1, rejected 0" in proc.stderr
    assert "(encoding utf-8; delimiter comma)" in proc.stderr
    frame = pd.read_parquet(out)
    assert list(frame["id"]) == ["101", "102", "103"]
    assert frame["substantive"].dtype == bool


# --- hostile exports ---------------------------------------------------------------------------

UNICODE_ROWS = [
    ("101", "Caf\u00e9 on the high street \u2013 \u00a3100 fines"),
    ("102", "The Met\u2019s budget"),
    ("103", "Knife crime, and youth clubs"),
]


def delimited(rows, delimiter: str, header=("id", "text")) -> str:
    """A table as a survey tool writes it: csv's quoting, CRLF rows, the given separator."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "bom_and_codec",
    [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")],
)
def test_utf16_unicode_text(tmp_path, bom_and_codec):
    """Excel's "Unicode text": UTF-16 with a byte-order mark, tab-separated."""
    bom, codec = bom_and_codec
    path = tmp_path / "unicode.csv"
    path.write_bytes(bom + delimited(UNICODE_ROWS, "\t").encode(codec))
    result = ingest([path])
    c = result.comments
    assert list(c["id"]) == ["101", "102", "103"] and list(c["source_row"]) == [2, 3, 4]
    assert list(c["text"]) == [t for _, t in UNICODE_ROWS]
    assert result.encodings == {str(path): "utf-16"} and result.delimiters == {str(path): "\t"}
    # errors name the right row and column, with no NUL bytes from a wrong decoding
    path.write_bytes(bom + delimited([*UNICODE_ROWS, ("102", "again")], "\t").encode(codec))
    message = assert_one_line(error_of([path]), "unicode.csv", 5, "id")
    assert "\x00" not in message and message.endswith("duplicate id '102' (first at row 3)")


def test_utf16_without_bom_is_named(tmp_path):
    path = tmp_path / "nobom.csv"
    path.write_bytes(delimited(UNICODE_ROWS, "\t").encode("utf-16-le"))
    message = assert_one_line(error_of([path]), "nobom.csv", None, None)
    assert "\x00" not in message and "UTF-16 without a byte-order mark" in message
    assert "utf-16-le" in message
    result = ingest([path], encoding="utf-16-le")
    assert list(result.comments["text"]) == [t for _, t in UNICODE_ROWS]


# A UTF-8 export with one cell pasted from a cp1252 source: "£" as the single byte 0xa3
MIXED = "id,text\n1,Caf\u00e9 closed\n2,\u00a3100 fine\n".encode().replace(b"\xc2\xa3", b"\xa3")


def test_mixed_encodings_refused(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(MIXED)
    message = assert_one_line(error_of([path]), "mixed.csv", 3, "text")
    assert "byte 0xa3 is not utf-8, but the file has utf-8 characters elsewhere" in message
    assert "settings.ingest.encoding" in message and "yousaid ingest --encoding" in message
    # the analyst who knows better says so; a wrong claim is refused the same way
    assert ingest([path], encoding="cp1252").encodings == {str(path): "cp1252"}
    message = assert_one_line(error_of([path], encoding="utf-8"), "mixed.csv", 3, "text")
    assert "cannot be decoded as utf-8, the encoding given" in message
    assert str(error_of([path], encoding="klingon")).endswith("unknown encoding 'klingon'")


def test_all_cp1252_is_still_read_and_reported(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("id,text\n1,Caf\u00e9 closed\n2,\u00a3100 fine\n".encode("cp1252"))
    result = ingest([path])
    assert result.encodings == {str(path): "cp1252"}
    assert list(result.comments["text"]) == ["Caf\u00e9 closed", "\u00a3100 fine"]


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_delimiter_sniffed(tmp_path, delimiter):
    rows = [
        ("1", "Knife crime, and youth clubs; closing", "Brent"),
        ("2", "No", "Ealing"),
        ("3", 'He said "no" | twice', "Barnet"),
    ]
    path = write_csv(tmp_path / "d.csv", delimited(rows, delimiter, ("id", "text", "borough")))
    result = ingest([path])
    assert result.delimiters == {str(path): delimiter}
    c = result.comments
    assert list(c["text"]) == [r[1] for r in rows] and list(c["borough"]) == [r[2] for r in rows]
    assert list(c["source_row"]) == [2, 3, 4]


def test_header_below_a_two_cell_title(tmp_path):
    text = (
        "Police and Crime Plan consultation,Exported 14/09/2026\n"
        "\n"
        "Respondent ID,Q5 What is missing,Borough\n"
        "R-1,More patrols,Brent\n"
        "R-2,Nope,Ealing\n"
    )
    path = write_csv(tmp_path / "titled.csv", text)
    columns = {"Respondent ID": "id", "Q5 What is missing": "text"}
    c = ingest([path], columns=columns).comments
    assert list(c["id"]) == ["R-1", "R-2"] and list(c["source_row"]) == [4, 5]
    assert list(c["Borough"]) == ["Brent", "Ealing"]
    # the same in a workbook, the title in two cells of the first row
    wb = Workbook()
    ws = wb.active
    ws.append(["Police and Crime Plan consultation", "Exported 14/09/2026"])
    ws.append(["Respondent ID", "Q5 What is missing", "Borough"])
    ws.append(["R-1", "More patrols", "Brent"])
    c = ingest([save(wb, tmp_path / "titled.xlsx")], columns=columns).comments
    assert list(c["id"]) == ["R-1"] and list(c["source_row"]) == [3]


def test_expected_columns_not_found(tmp_path):
    text = "Consultation,export\nRespondent,Answer,Borough\nR-1,More patrols,Brent\n"
    path = write_csv(tmp_path / "x.csv", text)
    err = error_of([path], columns={"Respondent ID": "id", "Q5 What is missing": "text"})
    message = assert_one_line(err, "x.csv", 2, None)
    assert message == (  # the closest is the real header below the two-cell title
        f"{path}, row 2: columns 'Respondent ID', 'Q5 What is missing' not found (looked for a "
        "header row with 'Respondent ID', 'Q5 What is missing' in rows 1-3, read as "
        "comma-separated; the closest, row 2, has: Respondent, Answer, Borough)"
    )
    wb = Workbook()
    wb.active.title = "Responses"
    wb.active.append(["Respondent ID", "Answer"])
    wb.active.append(["R-1", "More patrols"])
    err = error_of([save(wb, tmp_path / "x.xlsx")], columns={"Respondent ID": "id", "Q5": "text"})
    message = assert_one_line(err, "x.xlsx", 1, "Q5")
    assert "in rows 1-2 of sheet 'Responses'; the closest, row 1, has: Respondent ID, Answer" in (
        message
    )


def test_control_characters_in_ids_and_groups(tmp_path):
    rows = [
        ("1\x0b", "More\x0bpatrols", "Brent\x01", "1.5\x7f"),
        ("2", "Scams", "Eal\x00ing", ""),
        ("\x01", "Drugs", "Barnet", ""),
        ("2\x1f", "Burglary", "Brent", ""),
    ]
    text = delimited(rows, ",", ("id", "text", "borough", "weight"))
    path = write_csv(tmp_path / "ctrl.csv", text)
    message = assert_one_line(error_of([path]), "ctrl.csv", 4, "id")
    assert message.endswith(
        "the id is empty once control characters are removed (1 more bad rows;"
        " set ingest.on_bad_rows: reject to set them aside)"
    )
    result = ingest([path], on_bad_rows="reject")
    c, r = result.comments, result.rejected
    assert list(c["id"]) == ["1", "2"] and list(c["borough"]) == ["Brent", "Ealing"]
    assert c["weight"].iloc[0] == 1.5
    assert list(c["text"]) == ["More patrols", "Scams"]  # text keeps its own handling
    assert c["text_original"].iloc[0] == "More\x0bpatrols"
    assert list(r["reject_reason"]) == [
        "the id is empty once control characters are removed",
        "duplicate id '2' (first at row 3) once control characters are removed",
    ]
    assert result.summary["rows_read"] == len(rows) == len(c) + len(r)
    assert result.notes == [
        "ctrl.csv: control characters removed from 6 cells (first row 2, column 'id')"
    ]
    # what the report does with these columns: a workbook refuses control characters
    sheet = Workbook().active
    for row in pd.concat([c, r])[["id", "borough"]].itertuples(index=False):
        sheet.append(list(row))


def test_uncalculated_formula_is_counted(tmp_path, caplog):
    wb = Workbook()
    ws = wb.active
    ws.append(["id", "first", "second", "text"])
    ws.append([1, "More", "patrols", "=B2&C2"])  # openpyxl saves the formula, not its value
    ws.append([2, "x", "y", "Scams"])
    ws.append([3, "Knife", "crime", "=B4&C4"])
    path = save(wb, tmp_path / "formulas.xlsx")
    with caplog.at_level(logging.WARNING):
        result = ingest([path])
    assert list(result.comments["non_substantive_reason"]) == ["empty", "", "empty"]
    assert result.summary["rows_read"] == 3
    assert result.notes == [
        "formulas.xlsx: 2 formula cells in 'text' with no saved value (first D2) read as empty"
    ]
    assert "2 formula cells in column 'text' (first D2)" in caplog.text


def test_joiners_are_kept(tmp_path):
    emoji = "\U0001f469\u200d\U0001f4bb cyber crime"  # woman technologist: one emoji
    assert normalise_text(emoji) == emoji
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \u0627\u0645\u0646\u06cc\u062a"
    assert normalise_text(persian) == persian
    assert normalise_text("a\u200bb\u2060c\u00add\ufeff") == "abcd"  # other invisibles go
    path = tmp_path / "joiners.parquet"
    pd.DataFrame({"id": ["1", "2", "3"], "text": ["No\u200c", emoji, persian]}).to_parquet(path)
    c = ingest([path]).comments
    assert list(c["text"]) == ["No\u200c", emoji, persian]
    assert list(c["non_substantive_reason"]) == ["no_answer", "", ""]


# --- one-line errors through the console script (pipeline.cli.entry) --------------------------


@pytest.fixture
def yousaid_entry(monkeypatch, capsys):
    """Run `yousaid ARGS` in this process as the console script does: (exit code, out, err)."""
    from pipeline.cli import entry

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def call(*args: object) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["yousaid", *map(str, args)])
        with pytest.raises(SystemExit) as info:
            entry()
        out, err = capsys.readouterr()
        return info.value.code, out, err

    yield call
    root.handlers[:] = handlers  # the CLI logs to the captured stderr; give logging back
    root.setLevel(level)


def one_error(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def config(root: Path, export: str = "export.csv", more: str = "") -> Path:
    (root / "consultation.yaml").write_text(
        f"name: t\ntitle: T\nsource: {{files: [{export}]}}\nid_column: id\n"
        f"questions: [{{id: q, column: text}}]\n{more}",
        encoding="utf-8",
    )
    return root


def test_cli_folder_named_like_an_export(tmp_path, yousaid_entry):
    (tmp_path / "x.csv").mkdir()
    line = one_error(*yousaid_entry("ingest", "--workspace", config(tmp_path, "x.csv"))[::2])
    assert line == f"error: {tmp_path / 'x.csv'}: is a folder, not a file"
    line = one_error(*yousaid_entry("init", tmp_path / "new", "--from", tmp_path / "x.csv")[::2])
    assert line == f"error: {tmp_path / 'x.csv'}: is a folder, not a file"


def test_cli_disk_full(tmp_path, yousaid_entry, monkeypatch):
    write_csv(tmp_path / "export.csv", csv_text())
    target = tmp_path / "q" / "data" / "interim" / "comments.parquet"

    def full(frame, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr("pipeline.stages.ingest.write_table", full)
    line = one_error(*yousaid_entry("ingest", "--workspace", config(tmp_path))[::2])
    assert line == (
        f"error: {target}: No space left on device (free some disk space and run the command again)"
    )

    def full_unnamed(frame, path):  # pyarrow's errors carry no file name
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("pipeline.stages.ingest.write_table", full_unnamed)
    line = one_error(*yousaid_entry("ingest", "--workspace", tmp_path)[::2])
    assert line.startswith(f"error: `yousaid ingest --workspace {tmp_path}`: No space left")


@pytest.mark.parametrize("command", [["embed"], ["discover"], ["label", "next"]])
def test_cli_stage_before_ingest(tmp_path, yousaid_entry, command):
    write_csv(tmp_path / "export.csv", csv_text())
    code, _, err = yousaid_entry(*command, "--workspace", config(tmp_path))
    line = one_error(code, err)
    comments = tmp_path / "q" / "data" / "interim" / "comments.parquet"
    assert line == (
        f"error: {comments}: no comments yet; run "
        f"`yousaid ingest --workspace {tmp_path} --question q` first"
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            "settings: {ingest: {on_bad_rows: skip}}",
            "settings.ingest.on_bad_rows: Input should be 'error' or 'reject'",
        ),
        (
            "settings: {ingest: [on_bad_rows, reject]}",
            "settings.ingest: Input should be a valid dictionary or instance of IngestSettings",
        ),
        (
            "respondent_columns: [route, age]",
            "respondent_columns: Input should be a valid dictionary",
        ),
        (
            "settings: {ingest: {encoding: klingon}}",
            "settings.ingest.encoding: Value error, unknown "
            "encoding 'klingon' (for example utf-8, cp1252, utf-16)",
        ),
    ],
)
def test_cli_bad_settings(tmp_path, yousaid_entry, settings, message):
    write_csv(tmp_path / "export.csv", csv_text())
    code, _, err = yousaid_entry("ingest", "--workspace", config(tmp_path, more=settings))
    assert one_error(code, err) == f"error: {tmp_path / 'consultation.yaml'}: {message}"


def test_cli_encoding(tmp_path, yousaid_entry):
    (tmp_path / "export.csv").write_bytes(MIXED)
    root = config(tmp_path)
    line = one_error(*yousaid_entry("ingest", "--workspace", root)[::2])
    assert line.startswith(f"error: {tmp_path / 'export.csv'}, row 3, column 'text': byte 0xa3")
    code, out, err = yousaid_entry("ingest", "--workspace", root, "--encoding", "cp1252")
    assert code == 0 and "(encoding cp1252; delimiter comma)" in err
    line = one_error(*yousaid_entry("ingest", "--workspace", root, "--encoding", "nope")[::2])
    assert line == "error: --encoding: unknown encoding 'nope' (for example utf-8, cp1252, utf-16)"
    # the same from consultation.yaml; a semicolon export is reported as such
    write_csv(tmp_path / "export.csv", delimited(UNICODE_ROWS, ";"), encoding="cp1252")
    config(tmp_path, more="settings: {ingest: {encoding: cp1252}}")
    code, out, err = yousaid_entry("ingest", "--workspace", root)
    assert code == 0 and "(encoding cp1252; delimiter semicolon)" in err
    frame = pd.read_parquet(out.splitlines()[0])
    assert list(frame["text"]) == [t for _, t in UNICODE_ROWS]


def test_cli_reports_uncalculated_formulas(tmp_path, yousaid_entry):
    wb = Workbook()
    wb.active.append(["id", "text"])
    wb.active.append([1, '="More "&"patrols"'])
    save(wb, tmp_path / "export.xlsx")
    code, _, err = yousaid_entry("ingest", "--workspace", config(tmp_path, "export.xlsx"))
    assert code == 0
    assert (
        "rows read 1: substantive 0, flagged non-substantive 1, rejected 0; warning: export.xlsx: "
        "1 formula cell in 'text' with no saved value (first B2) read as empty"
    ) in err
