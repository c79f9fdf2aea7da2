"""themes.xlsx: one formatted sheet per table, every text cell neutralised against formulas."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font

from pipeline.report.model import ReportData
from pipeline.report.narrative import xlsx_sheets
from pipeline.sheets import cell_value
from pipeline.sheets import write_sheet as _write

BASE_FONT = Font(italic=True, color="555555")
# One neutral dark blue for both directions (▲/▼ say which): higher is not "good".
HIGHER_FONT = Font(bold=True, color="1F3A68")
LOWER_FONT = Font(bold=True, color="1F3A68")
LOW_BASE_FONT = Font(color="9AA4AE")  # muted, never bold: too few comments to compare
REASONS = {
    "no_answer": "No answer given",
    "dont_know": "Don't know",
    "empty": "Empty",
    "no_suggestion": "Nothing to add",
    "no_text": "No words (symbols or numbers only)",
}


def reason_label(code: str) -> str:
    """A non-substantive reason as a reader would say it, never the code."""
    return REASONS.get(str(code), str(code).replace("_", " ").capitalize())


INT, PCT, DEC, P = "#,##0", "0.0%", "#,##0.0", "0.0000"


def _sheet_name(name: str, taken: set[str]) -> str:
    base = re.sub(r"\s*[\[\]:*?/\\']+\s*", "-", name).strip("- ")[:31] or "Sheet"
    out, k = base, 2
    while out.lower() in taken:
        out = f"{base[:28]} {k}"
        k += 1
    taken.add(out.lower())
    return out


def _summary_frame(data: ReportData) -> pd.DataFrame:
    s = data.summary
    rows = [
        ("Consultation", data.title),
        ("Question", data.question),
        ("Report built", data.generated),
        ("Comments received", s["comments"]),
        ("Substantive comments (the base for every %)", s["substantive"]),
        ("Non-substantive comments (excluded, counted here)", s["non_substantive"]),
    ]
    rows += [
        (f"   of which: {reason_label(reason)}", n)
        for reason, n in s["non_substantive_reasons"].items()
    ]
    rows += [
        ("Substantive comments in no theme", s["no_theme"]),
        ("Hand-labelled comments (counted as certain)", s["hand_labelled"]),
        ("Model-coded comments flagged for review", s["needs_review"]),
        (
            "Average themes per comment with a theme (sub-themes not double-counted)",
            round(s["mean_themes"], 2),
        ),
        ("Classifier version", s["model_version"]),
    ]
    return pd.DataFrame(rows, columns=["Item", "Value"]).astype({"Value": object})


def _themes_frame(data: ReportData) -> pd.DataFrame:
    t = data.themes
    names = data.names
    pct = f"{data.level:.0%}"
    return pd.DataFrame(
        {
            "Theme": t["theme"],  # the same name in every sheet; "Part of" says the parent
            "Theme id": t["theme_id"],
            "Part of": [names.get(p, "") for p in t["parent_id"]],
            "Comments": t["count"],
            "% of substantive": t["share"],
            "Hand-labelled (certain)": t["hand_labelled"],
            "Model-coded": t["model_coded"],
            "Corrected estimate": t["corrected"],
            f"{pct} interval low": t["low"],
            f"{pct} interval high": t["high"],
            "Corrected %": t["corrected_share"],
            "Precision": t["precision"],
            "Recall": t["recall"],
            "Uncertainty from": t["method"],
            "Validated by audit": t["validated"].map({True: "yes", False: "no (model-based)"}),
            "Indicative only": t["indicative_only"].map({True: "yes", False: ""}),
            "Reliability note": t["reliability_note"],
        }
    )


def _breakdown_frame(data: ReportData, b) -> tuple[pd.DataFrame, list[tuple[int, int, str]], list]:
    """Wide table: one row per theme with n, % and significance per group; the base rows
    come back apart, to sit below the table, outside its filter (sorting must not move them)."""
    names = data.names
    columns = ["Theme"]
    for g in b.groups:
        columns += [f"{g}: n", f"{g}: %", f"{g}: vs rest"]
    columns.append("Differs across groups (adj. p)")
    rows, marks, bases = [], [], []
    base_rows = [
        ("Base: substantive comments (n)", b.base, INT),
        ("Weighted base", b.weighted_base, DEC),
        ("Effective base (for tests)", b.effective_base, DEC),
    ]
    for label, series, _ in base_rows:
        row = [label]
        for g in b.groups:
            row += [series[g], None, "low base" if b.base[g] < data.min_base else ""]
        bases.append(row + [None])
    for tid in data.order:
        row = [names[tid]]
        for k, g in enumerate(b.groups):
            flag = b.flag.at[tid, g]
            text = {"higher": "▲ higher", "lower": "▼ lower"}.get(flag, "")
            row += [int(b.count.at[tid, g]), b.share.at[tid, g], text]
            if flag in ("higher", "lower"):
                marks.append((len(rows) + 2, 2 + 3 * k + 1, flag))  # the % and its mark
        rows.append(row + [b.p_across.get(tid, np.nan)])
    return pd.DataFrame(rows, columns=columns), marks, bases


def write_xlsx(data: ReportData, path: Path) -> None:
    wb = Workbook()
    wb.remove(wb.active)
    taken: set[str] = set()

    ws = wb.create_sheet(_sheet_name("Summary", taken))
    _write(ws, _summary_frame(data), {}, widths={"Item": 52, "Value": 70})

    ws = wb.create_sheet(_sheet_name("Themes", taken))
    themes = _themes_frame(data)
    fmts = {c: INT for c in ("Comments", "Hand-labelled (certain)", "Model-coded")}
    fmts.update({c: DEC for c in themes.columns if "interval" in c or c == "Corrected estimate"})
    fmts.update(
        {"% of substantive": PCT, "Corrected %": PCT, "Precision": "0.00", "Recall": "0.00"}
    )
    _write(ws, themes, fmts, widths={"Theme": 48, "Part of": 28}, freeze="B2")

    for b in data.breakdowns:
        ws = wb.create_sheet(_sheet_name(f"By {b.label}", taken))
        frame, marks, bases = _breakdown_frame(data, b)
        fmts = {}
        for g in b.groups:
            fmts[f"{g}: n"], fmts[f"{g}: %"] = INT, PCT
        fmts["Differs across groups (adj. p)"] = P
        widths = {"Theme": 48}
        widths.update({c: 11 for c in frame.columns if c != "Theme"})
        _write(ws, frame, fmts, widths=widths, freeze="B2")
        for k, g in enumerate(b.groups):  # low-base groups: muted, never marked
            if b.base[g] < data.min_base:
                for r in range(2, len(frame) + 2):
                    for c in range(2 + 3 * k, 5 + 3 * k):
                        ws.cell(row=r, column=c).font = LOW_BASE_FONT
        first = len(frame) + 3  # one blank row, then the bases, outside the filtered range
        for i, row in enumerate(bases):
            for j, value in enumerate(row, start=1):
                cell = ws.cell(row=first + i, column=j, value=cell_value(value))
                cell.font = BASE_FONT
            for k in range(len(b.groups)):
                ws.cell(row=first + i, column=2 + 3 * k).number_format = INT if i == 0 else DEC
        for r, c, flag in marks:
            ws.cell(row=r, column=c).font = HIGHER_FONT if flag == "higher" else LOWER_FONT
            ws.cell(row=r, column=c + 1).font = HIGHER_FONT if flag == "higher" else LOWER_FONT

    estimates = [b.estimates.assign(breakdown=b.label) for b in data.breakdowns if len(b.estimates)]
    if estimates:
        est = pd.concat(estimates, ignore_index=True)
        pct = f"{data.level:.0%}"
        frame = pd.DataFrame(
            {
                "Breakdown": est["breakdown"],
                "Group": est["group"],
                "Theme": est["theme_id"].map(data.names),
                "Estimated comments (weighted)": est["estimate"],
                f"{pct} low": est["low"],
                f"{pct} high": est["high"],
                "Estimated %": est["share"],
                f"% {pct} low": est["share_low"],
                f"% {pct} high": est["share_high"],
                "Audit comments in group": est["n_audit_in_group"],
                "Validated by audit": est["validated"].map(
                    {True: "yes", False: "no (model-based)"}
                ),
            }
        )
        ws = wb.create_sheet(_sheet_name("Group estimates", taken))
        fmts = {c: DEC for c in frame.columns if "low" in c or "high" in c or "Estimated c" in c}
        fmts.update({c: PCT for c in frame.columns if "%" in c})
        _write(ws, frame, fmts, widths={"Theme": 40, "Breakdown": 18, "Group": 22}, freeze="B2")

    for st in data.stances:
        ws = wb.create_sheet(_sheet_name(f"{st['theme']} stance", taken))
        table = st["table"]
        pct = f"{data.level:.0%}"
        frame = pd.DataFrame(
            {
                "Stance": list(table["stance"]) + ["No stance recorded", "Note"],
                "Comments": list(table["count"]) + [st["without_stance"], None],
                "% of comments with a stance": list(table["share"]) + [None, None],
                f"{pct} low": list(table["low"]) + [None, None],
                f"{pct} high": list(table["high"]) + [None, None],
            }
        )
        note = f"Note: stance from {st['source']}."
        if st["low_base"]:
            note += f" Base {st['with_stance']} is under {data.min_base}: indicative only."
        frame.loc[len(frame) - 1, "Stance"] = note
        names = dict(zip(table["stance_id"], table["stance"], strict=True))
        for split in st.get("splits", []):
            t = split["table"]
            label = {b.column: b.label for b in data.breakdowns}.get(
                split["column"], split["column"].replace("_", " ")
            )
            rows = [{"Stance": f"By {label}"}]
            for r in t.to_dict("records"):
                for sid, name in names.items():
                    flag = r[f"flag:{sid}"]
                    rows.append(
                        {
                            "Stance": f"{r['group']} (n={r['base']}): {name}"
                            + (f" [{flag}]" if flag else ""),
                            "% of comments with a stance": r[f"share:{sid}"],
                        }
                    )
            frame = pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)
        _write(
            ws,
            frame,
            {
                "Comments": INT,
                "% of comments with a stance": PCT,
                f"{pct} low": DEC,
                f"{pct} high": DEC,
            },
            widths={"Stance": 70, "Comments": 12, "% of comments with a stance": 16},
            wrap=("Stance",),
        )

    ws = wb.create_sheet(_sheet_name("Quotes", taken))
    q = data.quotes
    frame = pd.DataFrame(
        {
            "Theme": q["theme"],
            "Rank": q["rank"],
            "Quote": q["quote"],
            "Comment id": q["comment_id"],
            "Route": q["route"],
            "Pinned": q["pinned"].map({True: "yes", False: ""}),
            "Stance": q["stance"],
            "Personal data redacted": q["redacted"],
        }
    )
    _write(
        ws,
        frame,
        {"Rank": INT},
        widths={
            "Theme": 34,
            "Rank": 7,
            "Quote": 90,
            "Comment id": 14,
            "Route": 20,
            "Pinned": 8,
            "Stance": 18,
            "Personal data redacted": 18,
        },
        wrap=("Quote",),
    )

    xlsx_sheets(wb, data, taken, _write, _sheet_name)

    if data.comments is not None:
        ws = wb.create_sheet(_sheet_name("Comments", taken))
        c = data.comments
        labels = {b.column: b.label for b in data.breakdowns}
        frame = pd.DataFrame({"Comment id": c["id"]})
        for col in c.columns.drop(["id", "substantive", "themes", "needs_review", "text"]):
            label = labels.get(col, col.replace("_", " "))
            frame[label[:1].upper() + label[1:]] = c[col]
        frame["Substantive"] = c["substantive"].map({True: "yes", False: "no"})
        frame["Themes"] = c["themes"]
        frame["Needs review"] = c["needs_review"].map({True: "yes", False: ""})
        frame["Comment (personal data redacted)"] = c["text"]
        _write(
            ws,
            frame,
            {},
            widths={"Comment id": 14, "Themes": 48, "Comment (personal data redacted)": 90},
            wrap=("Comment (personal data redacted)", "Themes"),
        )

    ws = wb.create_sheet(_sheet_name("Notes", taken))
    _write(
        ws,
        pd.DataFrame({"Method and notes": data.notes}),
        {},
        widths={"Method and notes": 130},
        wrap=("Method and notes",),
    )
    wb.save(path)
