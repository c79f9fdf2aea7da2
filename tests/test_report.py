"""The report, checked by opening every output back (openpyxl, python-docx, html.parser) and
comparing with numbers computed here, independently, from the demo run's coded data."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DEMO

CODEBOOK = DEMO / "missing" / "codebook.yaml"

FORMULA = '=HYPERLINK("#Summary!A1","click me") burglary on our road every week, nobody comes.'
SCRIPT = (
    '<script>alert("owned")</script> We never see police on the streets any more, bring them back.'
)
EMAIL = "planted.person@example.org"
EMAIL_TEXT = (
    f"Burglars hit our road twice this year. Email me at {EMAIL} and I will tell you everything."
)
DEMO_PII = [
    "janet.oduya@examplemail.co.uk",
    "Janet Oduya",
    "07911 123456",
    "07700 900123",
    "SE24 9NH",
    "E2 0LA",
    "Dave Harrington",
    "k.adeyemi88@gmail.com",
    "14 Elmwood Road",
    "Mohammed Rahim",
]


class Tables(HTMLParser):
    """Every <table> as rows of cell text; all text data; every start tag seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self.tags: list[str] = []
        self.data: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        self.data.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _codebook():
    from pipeline.codebook import load_codebook

    return load_codebook(CODEBOOK)


def _final_codes(coded: pd.DataFrame, labelled: pd.DataFrame) -> pd.DataFrame:
    """Independent: hand labels win for the comments they cover; sub-themes imply parents."""
    book = _codebook()
    out = coded[["id", "substantive"] + [f"code_{t}" for t in book.ids]].copy()
    labels = dict(zip(labelled["id"].astype(str), labelled["labels"].fillna(""), strict=True))
    for i, cid in enumerate(out["id"]):
        if cid in labels:
            given = {x for x in labels[cid].split("|") if x}
            for t in book.ids:
                out.iat[i, out.columns.get_loc(f"code_{t}")] = int(t in given)
    for theme in book.themes:
        if theme.group:
            out[f"code_{theme.group}"] = out[[f"code_{theme.group}", f"code_{theme.id}"]].max(
                axis=1
            )
    return out[out["substantive"].astype(bool)]


@pytest.fixture(scope="module")
def report(demo_run, tmp_path_factory):
    """The report built from the demo run, with three planted comments pinned as quotes."""
    from pipeline.report import build_report

    tmp = tmp_path_factory.mktemp("report")
    coded = pd.read_parquet(demo_run["coded"])
    labelled = pd.read_csv(demo_run["labelled"], dtype=str)
    free = coded[coded["substantive"] & ~coded["id"].isin(labelled["id"])]
    planted = {}
    for text, theme in (
        (FORMULA, "volume_crime"),
        (SCRIPT, "officers_visibility"),
        (EMAIL_TEXT, "volume_crime"),
    ):
        row = free[(free[f"code_{theme}"] == 1) & ~free["id"].isin(list(planted))].iloc[0]
        planted[row["id"]] = (text, theme)
        coded.loc[coded["id"] == row["id"], "text"] = text
    coded_path = tmp / "coded.parquet"
    coded.to_parquet(coded_path, index=False)
    pins: dict[str, list[str]] = {}
    for cid, (_, theme) in planted.items():
        pins.setdefault(theme, []).append(cid)
    quotes_path = tmp / "quotes.yaml"
    quotes_path.write_text(yaml.safe_dump({"pin": pins, "ban": []}), encoding="utf-8")
    cfg = demo_run["ws"].settings.report
    out = tmp / "reports"
    paths = build_report(
        coded_path,
        demo_run["codebook"],
        out,
        labelled=demo_run["labelled"],
        metrics=demo_run["model_dir"] / "metrics.json",
        embeddings=demo_run["embeddings"],
        responses=demo_run["paths"].responses,
        quotes=quotes_path,
        cfg=cfg,
        seed=42,
    )
    return {
        "paths": paths,
        "coded": coded,
        "labelled": labelled,
        "planted": planted,
        "out": out,
        "cfg": cfg,
        "responses": demo_run["paths"].responses,
    }


@pytest.fixture(scope="module")
def workbook(report):
    from openpyxl import load_workbook

    return load_workbook(report["paths"]["xlsx"])


@pytest.fixture(scope="module")
def html(report):
    text = report["paths"]["html"].read_text(encoding="utf-8")
    parser = Tables()
    parser.feed(text)
    return text, parser


@pytest.fixture(scope="module")
def docx_text(report):
    from docx import Document

    doc = Document(str(report["paths"]["docx"]))
    return [(p.style.name, p.text) for p in doc.paragraphs]


def _sheet(workbook, name: str) -> pd.DataFrame:
    rows = list(workbook[name].values)
    return pd.DataFrame(rows[1:], columns=rows[0])


def test_theme_counts_equal_independent_computation(report, workbook):
    final = _final_codes(report["coded"], report["labelled"])
    themes = _sheet(workbook, "Themes").set_index("Theme id")
    n_sub = len(final)
    for tid in _codebook().ids:
        expected = int(final[f"code_{tid}"].sum())
        assert themes.at[tid, "Comments"] == expected, tid
        assert themes.at[tid, "% of substantive"] == pytest.approx(expected / n_sub)
        low, high = themes.at[tid, "95% interval low"], themes.at[tid, "95% interval high"]
        hand = themes.at[tid, "Hand-labelled (certain)"]
        assert hand <= low <= themes.at[tid, "Corrected estimate"] <= high
        assert hand + themes.at[tid, "Model-coded"] == expected
    summary = dict(workbook["Summary"].values)
    assert summary["Substantive comments (the base for every %)"] == n_sub
    assert summary["Non-substantive comments (excluded, counted here)"] == int(
        (~report["coded"]["substantive"]).sum()
    )
    # a comment counts in several themes: the theme counts add up to more than the comments coded
    assert themes["Comments"].sum() > (final.filter(like="code_").sum(axis=1) > 0).sum()


def test_html_table_shows_the_same_counts(report, workbook, html):
    _, parser = html
    themes = _sheet(workbook, "Themes")
    first = parser.tables[0]
    shown = {
        row[0].lstrip("↳ ").removesuffix("indicative only").strip(): int(row[1].replace(",", ""))
        for row in first[1:]
    }
    for name, count in zip(themes["Theme"].str.strip(), themes["Comments"], strict=True):
        assert shown[name] == count
    weak = themes.loc[themes["Indicative only"] == "yes", "Theme"].str.strip()
    flagged = {
        r[0].lstrip("↳ ").removesuffix("indicative only").strip()
        for r in first[1:]
        if r[0].endswith("indicative only")
    }
    assert set(weak) == flagged


def test_counts_are_checked_against_the_audit_sample(report, workbook):
    """The demo's labels include a blind random audit: every count is audit-based, and weak
    themes are marked indicative only, with the reason, in the workbook and the page."""
    themes = _sheet(workbook, "Themes").set_index("Theme id")
    assert (themes["Validated by audit"] == "yes").all()
    assert themes["Uncertainty from"].str.startswith("prediction-powered").all()
    weak = themes[themes["Indicative only"] == "yes"]
    assert len(weak) >= 1 and weak["Reliability note"].str.len().gt(0).all()
    # police-public relationships: the classifier finds few of its comments (issue 12)
    assert themes.at["engagement_relationships", "Indicative only"] == "yes"
    notes = _sheet(workbook, "Notes") if "Notes" in workbook.sheetnames else None
    text = "" if notes is None else notes.to_csv()
    assert "80 from a blind random audit sample" in text


def _weights(frame: pd.DataFrame) -> np.ndarray:
    """Independent: rescale to mean 1 inside each weighted route; unweighted routes count 1."""
    w = np.ones(len(frame))
    for _, rows in frame.groupby("route").groups.items():
        raw = frame.loc[rows, "weight"].astype(float)
        if raw.notna().any():
            w[frame.index.get_indexer(rows)] = (raw / raw.mean()).fillna(1.0).to_numpy()
    return w


def test_breakdowns_are_weighted(report, workbook):
    coded = report["coded"]
    final = _final_codes(coded, report["labelled"])
    sub = coded[coded["substantive"]].reset_index(drop=True)
    final = final.reset_index(drop=True)
    w = _weights(sub)
    sheet = _sheet(workbook, "By gender").set_index("Theme")
    names = dict(
        zip(
            _sheet(workbook, "Themes")["Theme id"],
            _sheet(workbook, "Themes")["Theme"].str.strip(),
            strict=True,
        )
    )
    differs = 0
    for tid, name in names.items():
        rows = (sub["gender"] == "Female").to_numpy()
        y = final[f"code_{tid}"].to_numpy()[rows]
        weighted = float(w[rows] @ y / w[rows].sum())
        assert sheet.at[name, "Female: %"] == pytest.approx(weighted)
        assert sheet.at[name, "Female: n"] == int(y.sum())
        differs += abs(weighted - y.mean()) > 1e-6
    assert differs, "weights made no difference: are they applied?"
    assert sheet.at["Base: substantive comments (n)", "Female: n"] == int(
        (sub["gender"] == "Female").sum()
    )
    # inside one poll, rescaling cannot change a share: it equals the raw-weighted share
    route = _sheet(workbook, "By route").set_index("Theme")
    poll = (sub["route"] == "poll_representative").to_numpy()
    raw = sub.loc[poll, "weight"].to_numpy(dtype=float)
    y = final["code_misconduct_accountability"].to_numpy()[poll]
    name = names["misconduct_accountability"]
    assert route.at[name, "poll_representative: %"] == pytest.approx(raw @ y / raw.sum())


def test_small_bases_are_never_compared(workbook):
    for name in workbook.sheetnames:
        if not name.startswith("By "):
            continue
        sheet = _sheet(workbook, name)
        base = sheet.set_index("Theme").loc["Base: substantive comments (n)"]
        for col in sheet.columns:
            if not str(col).endswith(": vs rest"):
                continue
            group = col[: -len(": vs rest")]
            if base[f"{group}: n"] < 30:
                assert set(sheet[col].dropna()) <= {"low base", ""}, (name, group)


def test_significance_flags_only_real_differences():
    from pipeline.report.breakdowns import breakdown

    rng = np.random.default_rng(0)
    n = 400
    group = np.where(np.arange(n) < 200, "a", "b").astype(object)
    group[:10] = "tiny"
    y_big = np.where(group == "a", rng.random(n) < 0.5, rng.random(n) < 0.1).astype(int)
    y_big[:10] = 1  # a tiny group where everyone says it: must still not be flagged
    y_same = (rng.random(n) < 0.3).astype(int)
    frame = pd.DataFrame(
        {
            "id": [str(i) for i in range(n)],
            "substantive": True,
            "g": group,
            "code_x": y_big,
            "code_y": y_same,
        }
    )
    b = breakdown(frame, np.ones(n), ["x", "y"], "g", min_base=30)
    assert b.flag.at["x", "a"] == "higher" and b.flag.at["x", "b"] == "lower"
    assert b.flag.at["x", "tiny"] == "low base"
    assert b.flag.at["y", "a"] == "" and b.flag.at["y", "b"] == ""


def test_planted_formula_is_inert(report, workbook):
    for ws in workbook.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
    ws = workbook["Quotes"]
    formula_id = next(cid for cid, (text, _) in report["planted"].items() if text == FORMULA)
    rows = [r for r in ws.iter_rows(min_row=2) if r[3].value == formula_id]
    assert len(rows) == 1
    cell = rows[0][2]
    assert cell.data_type == "s" and cell.value == "'" + FORMULA


def test_planted_script_is_inert(report, html):
    text, parser = html
    assert "script" not in parser.tags
    assert any('<script>alert("owned")</script>' in d for d in parser.data)  # shown as text
    assert "&lt;script&gt;" in text
    md = report["paths"]["md"].read_text(encoding="utf-8")
    assert "<script>" not in md


def test_no_personal_data_in_any_output(report, workbook, html, docx_text):
    cells = " ".join(
        str(c.value) for ws in workbook.worksheets for row in ws.iter_rows() for c in row
    )
    texts = {
        "xlsx": cells,
        "html": html[0],
        "docx": "\n".join(t for _, t in docx_text),
        "md": report["paths"]["md"].read_text(encoding="utf-8"),
    }
    for where, text in texts.items():
        for secret in [EMAIL, *DEMO_PII]:
            assert secret not in text, (where, secret)
    quotes = _sheet(workbook, "Quotes")
    pinned = quotes[quotes["Comment id"].isin(list(report["planted"]))]
    assert len(pinned) == 3 and (pinned["Pinned"] == "yes").all()
    assert pinned["Quote"].str.contains(r"\[email\]", regex=True).any()


def test_quotes_are_trimmed_at_boundaries_and_varied(report, workbook):
    from pipeline.privacy import redact

    quotes = _sheet(workbook, "Quotes")
    texts = dict(zip(report["coded"]["id"], report["coded"]["text"], strict=True))
    limit = report["cfg"].quote_max_chars
    for cid, quote in zip(quotes["Comment id"], quotes["Quote"], strict=True):
        quote = quote.lstrip("'")
        original = redact(texts[cid]).text
        assert len(quote) <= limit
        if quote != original:
            assert quote.endswith("…")
            kept = quote[:-1].rstrip()
            assert original.startswith(kept)
            assert not original[len(kept)].isalnum(), f"cut mid-word: {quote!r}"
    assert quotes.groupby("Theme")["Comment id"].nunique().eq(quotes.groupby("Theme").size()).all()
    assert quotes.groupby("Theme").size().max() <= report["cfg"].n_quotes


def test_you_said_we_did(report, workbook, docx_text):
    themes = _sheet(workbook, "Themes")
    names = themes["Theme"].tolist()
    # themes numbered at Heading 1; a sub-theme unnumbered at Heading 2, under its parent
    headings = [
        t
        for style, t in docx_text
        if style in ("Heading 1", "Heading 2") and (t in names or t.split(". ", 1)[-1] in names)
    ]
    assert [h if h in names else h.split(". ", 1)[1] for h in headings] == names
    top = themes[themes["Part of"].isna() | (themes["Part of"] == "")]
    assert top["Comments"].is_monotonic_decreasing
    responses = yaml.safe_load(report["responses"].read_text())["responses"]
    missing = [t for t in themes["Theme id"] if t not in responses]
    assert missing, "the demo must leave a theme without a response"
    text = [t for _, t in docx_text]
    for tid, name in zip(themes["Theme id"], themes["Theme"].str.strip(), strict=True):
        start = text.index(next(h for h in headings if h == name or h.endswith(f". {name}")))
        said = text[start + 1]
        assert said.startswith("You said: ")
        count = int(themes.loc[themes["Theme id"] == tid, "Comments"].iloc[0])
        assert f"{count:,} comments" in said
        we_did = next(t for t in text[start:] if t.startswith("We did: "))
        if tid in missing:
            assert we_did == "We did: Response pending"
        else:
            assert we_did == "We did: " + " ".join(responses[tid].split())
    md = report["paths"]["md"].read_text(encoding="utf-8")
    assert md.count("**We did:** *Response pending*") == len(missing)


def test_stance_from_hand_labels_and_the_model(report, workbook):
    labelled = report["labelled"].fillna("")
    final = _final_codes(report["coded"], report["labelled"])
    in_drugs = set(final.loc[final["code_drugs"] == 1, "id"])
    names = {
        "more_enforcement": "More enforcement",
        "legalise_or_less_enforcement": "Legalise or less enforcement",
    }
    expected = dict.fromkeys(names.values(), 0)
    for cid, stance in zip(labelled["id"], labelled["stance"], strict=True):
        if cid in in_drugs:
            for sid, name in names.items():
                expected[name] += f"drugs:{sid}" in stance
    coded = report["coded"]
    model_coded = coded[(coded["code_drugs"] == 1) & ~coded["id"].isin(labelled["id"])]
    for sid in model_coded["stance_drugs"]:
        expected[names[sid]] += 1
    assert sum(expected.values()) > len(labelled[labelled["stance"] != ""])  # the model adds
    sheet = _sheet(workbook, "Drugs stance").set_index("Stance")
    for name, n in expected.items():
        assert sheet.at[name, "Comments"] == n
    assert any("classifier's stance for model-coded comments" in str(s) for s in sheet.index)


def test_xlsx_is_formatted(workbook):
    ws = workbook["Themes"]
    assert ws.freeze_panes == "B2"
    assert ws["A1"].font.bold and ws["A1"].fill.fgColor.rgb.endswith("1F4E79")
    headers = [c.value for c in ws[1]]
    pct = headers.index("% of substantive") + 1
    assert ws.cell(row=2, column=pct).number_format == "0.0%"
    assert ws.column_dimensions["A"].width >= 40
    for ws in workbook.worksheets:
        assert ws.freeze_panes in ("A2", "B2")


def test_outputs_written_whole(report):
    names = sorted(p.name for p in report["out"].iterdir())
    assert names == sorted(
        [
            "themes.xlsx",
            "report.html",
            "you_said_we_did.docx",
            "you_said_we_did.md",
            "emerging.json",
            "manifest.json",
        ]
    )


def test_cli_stage_writes_reports(demo_run, tmp_path):
    from pipeline.stages import BY_NAME, STAGES
    from pipeline.workspace import load_workspace

    # the shared run's workspace, copied (so its reports stay unwritten), with fewer draws
    root = shutil.copytree(demo_run["workdir"], tmp_path / "ws")
    config = yaml.safe_load((root / "consultation.yaml").read_text(encoding="utf-8"))
    config["settings"].setdefault("report", {})["bootstrap"] = 200
    (root / "consultation.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    ws = load_workspace(root)
    assert ws.paths("missing").responses.exists() and ws.paths("missing").quotes.exists()
    written = BY_NAME["report"].run(ws, ws.question("missing")).outputs
    assert STAGES[-1].name == "report"
    assert written and all(p.exists() and p.stat().st_size > 0 for p in written.values())
    assert all(p.is_relative_to(root) for p in written.values())
    # the stage applies consultation.yaml's display names: a reader never sees a route code
    page = written["report_html"].read_text(encoding="utf-8")
    assert "Talk London" in page
    for code in ("talk_london", "poll_boost", "poll_representative"):
        assert code not in page, code


@pytest.mark.parametrize(
    ("text", "must_go", "marker"),
    [
        ("PC Dave Harrington at Bethnal Green was brilliant", "Dave Harrington", "PC [name]"),
        (
            "My neighbour Janet Oduya (janet.oduya@examplemail.co.uk) was burgled",
            "Oduya",
            "neighbour [name] ([email])",
        ),
        ("call me on 07911 123456, Mohammed Rahim. Thanks", "Rahim", "[phone], [name]"),
        ("ring +44 20 7946 0958 or (020) 7946 0958", "7946", "[phone] or [phone]"),
        ("I live at 14 Elmwood Road, London se24 9nh", "Elmwood", "[address], London [postcode]"),
        ("a black BMW, reg LD21 XYZ, does doughnuts", "LD21", "reg [vehicle reg]"),
    ],
)
def test_redaction_rules(text, must_go, marker):
    from pipeline.privacy import redact

    out = redact(text).text
    assert must_go not in out and marker in out


def test_redaction_leaves_ordinary_text():
    from pipeline.privacy import redact

    text = (
        "In 2021 the A406 and M25 had 20 mph limits; 999 calls took 45 minutes. "
        "Police Scotland do better."
    )
    assert redact(text).text == text


def test_trim_quote_marks_every_cut():
    from pipeline.report.quotes import trim_quote

    text = "First sentence is here. Second one is a little longer than that. Third."
    assert trim_quote(text, 200) == text
    assert trim_quote(text, 40) == "First sentence is here. …"
    cut = trim_quote("one enormous sentence without any full stop that goes on and on", 30)
    assert cut.endswith("…") and "one enormous sentence".startswith(cut[:-1].split()[0])
    assert (
        cut[:-1] == cut[:-1].rstrip()
        and " ".join(cut[:-1].split()) in "one enormous sentence without"
    )


def test_flagged_personal_data_is_never_quoted_unredacted():
    from pipeline.report.inputs import QuoteRules
    from pipeline.report.quotes import QuoteConfig, choose_quotes

    texts = [
        "Our street has no police at all, we never see a patrol after dark anymore.",  # flagged
        "Call Sam on 07700 900456 about the burglaries, the police never came round.",  # flagged
        "Burglaries every week on our estate and no police officer ever comes to see us.",
        "Banned comment about burglary that the analyst does not want quoted anywhere.",
    ]
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "text": texts,
            "substantive": True,
            "hand_labelled": False,
            "code_x": 1,
            "prob_x": [0.99, 0.95, 0.9, 0.97],
            "personal_data": [1, 1, 0, 0],
        }
    )
    quotes = choose_quotes(
        frame, ["x"], {"x": "X"}, None, QuoteRules(ban={"d"}), QuoteConfig(n_quotes=3, min_prob=0.5)
    )
    assert set(quotes["comment_id"]) == {"b", "c"}  # a: flagged, nothing found; d: banned
    quoted = " ".join(quotes["quote"])
    assert "07700" not in quoted and "Sam" not in quoted and "Call [name] on [phone]" in quoted


def test_stance_has_intervals_and_a_split_by_group(report, workbook, html):
    text, _ = html
    sheet = _sheet(workbook, "Drugs stance").set_index("Stance")
    pct = "95%"
    for name in ("More enforcement", "Legalise or less enforcement"):
        n, low, high = (sheet.at[name, c] for c in ("Comments", f"{pct} low", f"{pct} high"))
        assert low <= n <= high and high - low > 0
    assert "By route" in sheet.index
    split = [s for s in sheet.index if str(s).startswith("talk_london (n=")]
    assert len(split) == 2  # one row per stance, with the group's base
    with_stance = int(
        sheet.loc[["More enforcement", "Legalise or less enforcement"], "Comments"].sum()
    )
    small = "stance is known for only" in text
    assert small == (with_stance < 30)  # a small base is said, never drawn silently
    section = text[text.index('id="stance"') :]
    assert "<h4>By route</h4>" in section and "n=" in section


def test_group_totals_are_estimated_with_intervals(workbook):
    est = _sheet(workbook, "Group estimates")
    assert set(est["Breakdown"]) >= {"route", "age band"}
    assert (est["Validated by audit"] == "yes").all()
    assert (est["95% low"] <= est["Estimated comments (weighted)"] + 1e-9).all()
    assert (est["Estimated comments (weighted)"] <= est["95% high"] + 1e-9).all()
    assert est["Estimated %"].between(0, 1).all()


def test_word_document_is_a4_numbered_and_complete(report, workbook):
    """A4 with page numbers, real title and author, a summary table with the indicative marks,
    the theme chart as a picture, sub-themes under their parent, the method and date at the end."""
    from docx import Document
    from docx.shared import Mm

    doc = Document(str(report["paths"]["docx"]))
    section = doc.sections[0]
    assert abs(section.page_width - Mm(210)) < Mm(1) and abs(section.page_height - Mm(297)) < Mm(1)
    assert all(Mm(15) <= m <= Mm(30) for m in (section.left_margin, section.right_margin))
    assert "PAGE" in section.footer._element.xml and "fldChar" in section.footer._element.xml
    props = doc.core_properties
    data_title = dict(workbook["Summary"].values)["Consultation"]
    question = dict(workbook["Summary"].values)["Question"]
    assert data_title in props.title and question in props.title
    assert props.author and props.author.lower() not in ("python-docx", "yousaid")
    themes = _sheet(workbook, "Themes")
    table = doc.tables[0]
    rows = [[c.text for c in r.cells] for r in table.rows]
    assert rows[0][:3] == ["Theme", "Comments", "% of substantive"]
    assert [r[0].removeprefix("↳ ") for r in rows[1:]] == themes["Theme"].tolist()
    for r, (_, t) in zip(rows[1:], themes.iterrows(), strict=True):
        assert int(r[1].replace(",", "")) == t["Comments"]
        assert (r[-1] == "Indicative only") == (t["Indicative only"] == "yes")
        assert f"{t['95% interval low']:,.0f} to {t['95% interval high']:,.0f}" in r[3]
    picture = doc.inline_shapes[0]._inline.graphic.graphicData.pic.blipFill.blip.embed
    assert doc.part.related_parts[picture].content_type == "image/png"
    paragraphs = [(p.style.name, p.text) for p in doc.paragraphs]
    text = [t for _, t in paragraphs]
    assert any(t.startswith("Report date: ") for t in text)
    method = text.index("Method and notes")
    notes = [r[0] for r in workbook["Notes"].values]
    assert text[method + 1] in notes and text[-1].startswith("Report date: ")
    for _, sub in themes[themes["Part of"].fillna("") != ""].iterrows():
        at = text.index(sub["Theme"])
        assert paragraphs[at][0] == "Heading 2"
        parent = max(
            i for i, (s, t) in enumerate(paragraphs[:at]) if s == "Heading 1" and t[0].isdigit()
        )
        assert text[parent].split(". ", 1)[1] == sub["Part of"]


def test_markdown_mirrors_the_word_document(report):
    from docx import Document

    doc = Document(str(report["paths"]["docx"]))
    levels = {"Heading 1": "## ", "Heading 2": "### "}
    word = [levels[p.style.name] + p.text for p in doc.paragraphs if p.style.name in levels]
    md = report["paths"]["md"].read_text(encoding="utf-8")
    heads = [ln.replace("\\", "") for ln in md.splitlines() if ln.startswith(("## ", "### "))]
    assert heads == word
    table = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert len(table) == len(doc.tables[0].rows)
    assert md.rstrip().splitlines()[-1].startswith("*Report date: ")


def test_workbook_filters_names_reasons_and_comments(report, workbook):
    lowbase_or_flag_seen = False
    themes = _sheet(workbook, "Themes")
    names = themes["Theme"].tolist()
    assert all(n == n.strip() for n in names) and "Part of" in themes.columns
    for sheet in [s for s in workbook.sheetnames if s.startswith("By ")]:
        ws = workbook[sheet]
        # the filter covers the theme rows only; the bases sit below it, outside
        assert ws.auto_filter.ref.endswith(str(len(names) + 1)), (sheet, ws.auto_filter.ref)
        assert [ws.cell(row=r, column=1).value for r in range(2, len(names) + 2)] == names
        below = [ws.cell(row=r, column=1).value for r in range(len(names) + 2, ws.max_row + 1)]
        assert "Base: substantive comments (n)" in below
        base = _sheet(workbook, sheet).set_index("Theme").loc["Base: substantive comments (n)"]
        for j, head in enumerate(c.value for c in ws[1]):
            if not str(head).endswith(": %"):
                continue
            for r in range(2, len(names) + 2):
                font, mark = ws.cell(row=r, column=j + 1).font, ws.cell(row=r, column=j + 2).value
                if base[head.replace(": %", ": n")] < report["cfg"].min_base:
                    assert not font.bold and font.color.rgb.endswith("9AA4AE"), (sheet, head)
                elif mark:  # ▲/▼ in one neutral dark blue, never green/red
                    assert font.color.rgb.endswith("1F3A68"), (sheet, head, mark)
                    lowbase_or_flag_seen = True
    assert lowbase_or_flag_seen
    assert set(_sheet(workbook, "Quotes")["Theme"]) <= set(names)
    items = [str(k) for k, _ in workbook["Summary"].values]
    reasons = [i for i in items if "of which" in i]
    assert reasons and not any("_" in i for i in reasons)
    assert any(i.endswith("No answer given") for i in reasons)
    comments = _sheet(workbook, "Comments")
    assert len(comments) == len(report["coded"])
    assert {"Comment id", "Route", "Themes", "Needs review"} <= set(comments.columns)
    themed = comments["Themes"].dropna().str.split("; ").explode()
    assert set(themed) <= set(names)
    text = " ".join(comments.iloc[:, -1].dropna().astype(str))
    assert EMAIL not in text and "[email]" in text
    for pii in DEMO_PII:
        assert pii not in text, pii
    planted = next(cid for cid, (t, _) in report["planted"].items() if t == EMAIL_TEXT)
    row = comments[comments["Comment id"] == planted].iloc[0]
    assert "Burglars hit our road" in row.iloc[-1] and "Volume crime" in row["Themes"]


def test_html_is_neutral_and_fits_a_phone(html):
    text, _ = html
    # significant differences in one neutral colour (▲/▼ give the direction), not green/red
    for colour in ("#1a7f4b", "#b3261e", "#1A7F4B", "#B3261E"):
        assert colour not in text
    assert "--up:#1f3a68" in text and "--down:#1f3a68" in text
    stance = text[text.index('id="stance"') :]
    assert '<div class="scroll"><table><thead><tr><th>Stance</th>' in stance
    assert text.count('<div class="chartbox"><svg') == text.count("<svg")
    assert ".chartbox .chart{min-width:" in text
    assert ".lowbase{color:#9aa4ae}" in text
