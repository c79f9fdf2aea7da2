"""What leaves yousaid for other programs: CSV cells Excel would run, Markdown in the model card,
`$` in chart labels. Each test plants the hostile text and reads the file as its consumer would."""

from __future__ import annotations

import csv
import importlib
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DEMO

from pipeline.codebook import load_codebook
from pipeline.labelled import read_labelled
from pipeline.safety import dangerous, excel_safe, unescape
from pipeline.tables import write_table

HOSTILE = {
    "hyperlink": '=HYPERLINK("http://x","click")',
    "sum": "@SUM(A1)",
    "dash": "- more police on the streets",
    "plus": "+44 20 7946 0958",
    "tab": "\tcmd",
    "cr": "\rcmd",
    "dde": "-2+3+cmd|' /C calc'!A0",
}


def _live(cell: str) -> bool:
    """A cell Excel would run: starts with a formula character and is not a plain number."""
    return cell.startswith(("=", "+", "-", "@", "\t", "\r")) and not re.fullmatch(
        r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?", cell
    )


def _cells(path) -> list[dict[str, str]]:
    """The csv as a spreadsheet imports it: every cell the literal text in the file."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_formula_starts_are_quoted_and_come_back(value):
    assert dangerous(value)
    assert excel_safe(value) == "'" + value
    assert unescape(excel_safe(value)) == value


@pytest.mark.parametrize("value", ["-5", "+0.25", "-1e3", ".5", "hello", "", "'quoted", "a=b"])
def test_plain_numbers_and_ordinary_text_are_left_alone(value):
    assert not dangerous(value)
    assert excel_safe(value) == value == unescape(value)


@pytest.mark.parametrize("value", ["'=x", "''-y", "'@z"])
def test_text_that_already_starts_with_a_quote_survives_the_round_trip(value):
    assert unescape(excel_safe(value)) == value


def test_every_text_cell_of_a_written_csv_is_inert_and_numbers_stay_numbers(tmp_path):
    inner_cr = 'fine\r=HYPERLINK("http://x")'  # a bare CR would start a new spreadsheet row
    frame = pd.DataFrame(
        {
            "id": ["=1+1", "-5", "r3", "@r4", "r5", "r6", "r7", "r8"],
            "text": [*HOSTILE.values(), inner_cr],
            "group": ["@SUM(A1)"] + ["ok"] * 7,
            "weight": [-0.5, 1.0, 2.0, 0.5, 1.5, 1.0, 1.0, 1.0],
            "n": [-3, 1, 2, 3, 4, 5, 6, 7],
        }
    )
    path = write_table(frame, tmp_path / "out.csv")
    rows = _cells(path)
    assert len(rows) == len(frame), "a line break inside a cell started a new row"
    for row in rows:
        for col in ("text", "group"):
            assert not _live(row[col]), (col, row[col])
    assert [r["text"] for r in rows] == [excel_safe(t) for t in frame["text"]]
    assert rows[-1]["text"] == inner_cr
    assert rows[0]["text"] == "'" + HOSTILE["hyperlink"]
    assert rows[0]["group"] == "'@SUM(A1)"
    assert rows[0]["id"] == "'=1+1" and rows[3]["id"] == "'@r4"
    assert rows[1]["id"] == "-5"  # a number is not a formula: left as it is
    assert rows[0]["weight"] == "-0.5" and rows[0]["n"] == "-3"
    # parquet, read only by yousaid itself, keeps values exactly
    write_table(frame, tmp_path / "out.parquet")
    assert pd.read_parquet(tmp_path / "out.parquet")["text"].tolist() == frame["text"].tolist()


def test_demo_coded_csv_quotes_answers_that_start_with_a_dash(demo_ws):
    """The demo's own 'feel safer' answers include "- police on foot..." lists."""
    paths = demo_ws.paths(demo_ws.question("feel_safer"))
    parquet = pd.read_parquet(paths.coded)
    rows = _cells(paths.coded_csv)
    assert len(rows) == len(parquet)
    starts = parquet["text"].astype(str).map(dangerous)
    assert starts.any(), "the demo should carry an answer that starts with '-'"
    for row, text, risky in zip(rows, parquet["text"], starts, strict=True):
        assert row["text"] == ("'" + text if risky else text)
    prob = next(c for c in parquet.columns if c.startswith("prob_"))
    assert all(re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", r[prob]) for r in rows)


def test_labelled_csv_written_then_read_gives_the_same_ids_and_text(tmp_path):
    book = load_codebook(DEMO / "missing" / "codebook.yaml")
    theme = book.ids[0]
    frame = pd.DataFrame(
        {
            "id": ["=1+1", "-abc", "'=already", "101", "-7"],
            "text": [HOSTILE["hyperlink"], HOSTILE["dash"], "'=x", "plain", HOSTILE["dde"]],
            "labels": [theme, "", theme, theme, ""],
            "note": ["=cmd", "", "", "", ""],
        }
    )
    path = write_table(frame, tmp_path / "labelled.csv")
    assert _cells(path)[0]["id"] == "'=1+1"
    back = read_labelled(path, book)
    assert back["id"].tolist() == frame["id"].tolist()
    assert back["text"].tolist() == frame["text"].tolist()
    assert back["note"].tolist() == frame["note"].tolist()


def test_label_pull_keeps_one_row_per_id_across_pulls(tmp_path, monkeypatch):
    """A seed row whose id starts like a formula is replaced by Label Studio's answer for the
    same comment, not kept beside it under its quoted id; the pulled note comes out inert."""
    pull_module = importlib.import_module("pipeline.labelling.pull")

    book = load_codebook(DEMO / "missing" / "codebook.yaml")
    theme = book.ids[0]
    labelled = tmp_path / "labelled.csv"
    seed = pd.DataFrame({"id": ["-seed", "@keep"], "text": ["- a", "b"], "labels": ["", theme]})
    write_table(seed, labelled)

    def task(n: int, cid: str, text: str, note: str) -> dict:
        result = [
            {"from_name": "themes", "value": {"choices": [theme]}},
            {"from_name": "note", "value": {"text": [note]}},
        ]
        stamp = f"2026-01-0{n}T00:00:00Z"
        return {
            "id": n,
            "data": {"id": cid, "text": text},
            "annotations": [
                {
                    "id": 10 + n,
                    "completed_by": 1,
                    "result": result,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            ],
        }

    tasks = [
        task(1, "=1+1", HOSTILE["hyperlink"], "=cmd|' /C calc'!A0"),
        task(2, "-seed", "- a", ""),
    ]
    monkeypatch.setattr(
        pull_module, "find_project", lambda *a, **k: SimpleNamespace(id=7, title="t")
    )
    monkeypatch.setattr(pull_module, "export_tasks", lambda client, pid: tasks)
    monkeypatch.setattr(pull_module, "annotators", lambda client: {1: "analyst@example.org"})
    pull_module.pull(
        None,
        book,
        annotations_path=tmp_path / "annotations.jsonl",
        labelled_path=labelled,
        agreement_path=tmp_path / "agreement.csv",
        disagreements_path=tmp_path / "disagreements.csv",
    )
    rows = _cells(labelled)
    assert not any(_live(v) for r in rows for v in r.values())
    back = read_labelled(labelled, book)
    assert sorted(back["id"]) == sorted(["=1+1", "-seed", "@keep"])
    assert back.set_index("id").loc["=1+1", "note"] == "=cmd|' /C calc'!A0"
    assert back.set_index("id").loc["-seed", "labels"] == theme


def _card(tmp_path, names: dict[str, str]) -> str:
    from pipeline import modeldir

    themes = [
        {"id": tid, "name": name, "description": "d", "seeds": ["s"]} for tid, name in names.items()
    ]
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump({"name": "c", "themes": themes}), encoding="utf-8")
    book = load_codebook(path)
    ids = list(names)
    one = {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    meta = {
        "model_version": "yousaid-test",
        "labelled_file": "labels/<b>x</b>`.csv",
        "n_labelled": 10,
        "n_no_theme": 1,
        "embedding_model": "<img src=x onerror=alert(1)>",
        "cv_folds": 3,
        "theme_ids": ids,
        "thresholds": [0.5] * len(ids),
        "untrained_themes": [ids[-1]],
        "min_positives": 3,
    }
    metrics = {
        "micro": one,
        "macro": one,
        "per_theme": {t: {**one, "support": 4, "count_error": 0.1} for t in ids},
    }
    return modeldir.model_card(meta, metrics, book)


def test_model_card_shows_theme_names_as_typed(tmp_path):
    markdown_it = pytest.importorskip("markdown_it")
    names = {
        "script": "<script>alert(1)</script> safety",
        "link": "[click](javascript:alert(1)) costs",
        "pipe": "Roads | cycling",
        "bold": "**Loud** and _quiet_",
        "plain_id": "Plain",
    }
    card = _card(tmp_path, names)
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(card)
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "<a " not in html and "<strong>Loud" not in html and "<em>quiet" not in html
    rows = [r for r in re.findall(r"<tr>(.*?)</tr>", html, re.S)][1:]
    assert len(rows) == len(names)
    assert all(len(re.findall(r"<td", r)) == 7 for r in rows), "a name broke the table"
    text = re.sub(r"<[^>]+>", "", html)
    import html as html_lib

    text = html_lib.unescape(text)
    for name in names.values():
        assert name in text
    assert "<img src=x onerror=alert(1)>" in text and "labels/<b>x</b>`.csv" in text
    assert "plain_id" in card  # an id inside a word stays readable in the raw file


@pytest.mark.parametrize(
    "name", ["Costs in $ and £", "$x$ marks", "$100 fines, $50 fees", "Costs $1{ and $2"]
)
def test_chart_labels_draw_dollar_signs_literally(name):
    from matplotlib.font_manager import FontProperties, findfont, get_font

    from pipeline.report.breakdowns import Breakdown
    from pipeline.report.charts import breakdown_chart, stance_chart, theme_chart

    themes = pd.DataFrame(
        {
            "theme": [name, "Other"],
            "depth": [0, 0],
            "count": [10, 5],
            "corrected": [10.0, 5.0],
            "low": [8.0, 3.0],
            "high": [12.0, 7.0],
            "share": [0.1, 0.05],
        }
    )
    groups = [name, "b"]
    grid = pd.DataFrame([[0.2, 0.1], [0.3, 0.4]], index=["t1", "t2"], columns=groups)
    b = Breakdown(
        column="g",
        label="g",
        groups=groups,
        base=pd.Series([40, 50], index=groups),
        weighted_base=pd.Series([40.0, 50.0], index=groups),
        effective_base=pd.Series([40.0, 50.0], index=groups),
        weighted=pd.Series([False, False], index=groups),
        share=grid,
        count=(grid * 40).astype(int),
        flag=pd.DataFrame("", index=grid.index, columns=groups),
        p_value=pd.DataFrame(np.nan, index=grid.index, columns=groups),
        p_across=pd.Series(np.nan, index=grid.index),
    )
    stances = pd.DataFrame({"stance": [name, "against"], "count": [3, 2]})
    dollar = set()
    for weight, prefix in (("normal", "DejaVuSans"), ("bold", "DejaVuSans-Bold")):
        font = get_font(findfont(FontProperties(family="DejaVu Sans", weight=weight)))
        dollar.add(f"{prefix}-{font.get_char_index(ord('$')):x}")
    for svg in (
        theme_chart(themes),
        breakdown_chart(b, {"t1": name, "t2": "Other"}, ["t1", "t2"]),
        stance_chart(stances, "stance"),
    ):
        glyphs = set(re.findall(r'id="(DejaVuSans[^"]*)"', svg))
        assert dollar & glyphs, "the $ sign was not drawn"
        assert not any("Oblique" in g or "Italic" in g for g in glyphs), "drawn as maths"


def test_mixed_and_categorical_columns_are_covered_and_read_back():
    from pipeline.safety import excel_safe_frame, unescape_frame

    frame = pd.DataFrame(
        {
            "mixed": [1.5, "=x", None, "plain"],
            "route": pd.Categorical(["@SUM(A1)", "online", "online", "-"]),
            "flag": [True, False, True, False],
        }
    )
    safe = excel_safe_frame(frame)
    assert safe["mixed"].tolist()[:2] == [1.5, "'=x"] and safe["mixed"].isna().iloc[2]
    assert safe["route"].tolist() == ["'@SUM(A1)", "online", "online", "'-"]
    assert safe["flag"].tolist() == frame["flag"].tolist()
    back = unescape_frame(safe)
    assert back["route"].tolist() == frame["route"].tolist()
    assert back["mixed"].tolist()[:2] == [1.5, "=x"]
