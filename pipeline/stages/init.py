"""`yousaid init`: a new consultation workspace from an export, with every guess written down.

Nothing from any other workspace (the demo included) is copied in, and nothing an analyst has
written is ever overwritten: a second `init` only adds what is missing.
"""

from __future__ import annotations

import filecmp
import re
import shutil
from datetime import date
from pathlib import Path

import yaml

from pipeline.dvcfile import write_dvc_yaml
from pipeline.errors import YousaidError
from pipeline.guess import Guess, guess_layout, slug
from pipeline.tables import read_raw, write_atomic
from pipeline.workspace import CONFIG, load_workspace

RESPONSES = """\
# "We did": what changed in response to each theme, keyed by the theme ids of codebook.yaml.
# A theme left out is shown as "Response pending" in the reports, never skipped.
responses: {}
"""
SUMMARIES = """\
# "You said": the analyst's own paragraph per theme, keyed by the theme ids of codebook.yaml.
# A theme left out shows the report's draft (built from its key points, marked as a draft);
# the report never writes this file, so what is here survives every rerun.
summaries: {}
"""
QUOTES = """\
# Quotes the analyst pins or bans, by comment id. Pinned comments are quoted first for that
# theme (still redacted and shortened); banned ones are never quoted.
#   pin:
#     some_theme_id: [ID1, ID2]
#   ban: [ID3]
pin: {}
ban: []
"""
GITIGNORE = """\
# built by yousaid; rebuild with `yousaid run` or `dvc repro`
.cache/
/reports/
*/data/
*/models/
*/reports/
"""


def _title(preamble: list[str], export: Path) -> str:
    """The title rows above the header ("Northbridge Council", "Budget survey 2027"), joined."""
    if preamble:
        return re.sub(r"\s+", " ", " - ".join(preamble[:3])).strip()
    return export.stem.replace("_", " ").replace("-", " ").strip().capitalize()


def render_config(
    guess: Guess,
    name: str,
    files: list[str],
    sheet: str | None,
    header_row: int,
    encoding: str | None = None,
) -> str:
    """consultation.yaml text: the guesses, with comments saying what to check."""
    body = {
        "name": name,
        "title": guess.title,
        "source": {"files": files, "sheet": sheet, "header_row": header_row},
        "id_column": guess.id_column,
        "weight_column": guess.weight_column,
        "respondent_columns": guess.respondent_columns,
        "questions": guess.questions,
        "display_names": guess.display_names,
        "redaction_allow": [],
        "redaction_patterns": {},
        "settings": {"ingest": {"encoding": encoding}} if encoding else {},
    }
    text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)
    ignored = ", ".join(guess.ignored) or "none"
    return (
        f"# Consultation workspace written by `yousaid init` on {date.today().isoformat()}.\n"
        "# Every value below is a guess from the export: check them. yousaid never overwrites\n"
        "# this file. respondent_columns: the name reports use -> the export's column.\n"
        "# questions: one per open question (id: its folder). display_names: what readers see\n"
        "# instead of a coded value. settings: seed, ingest, embedding, discover, classifier,\n"
        "# label and report sections (see the README); defaults apply where left out.\n"
        f"# Columns not read (add them to respondent_columns to keep them): {ignored}\n" + text
    )


def describe(guess: Guess) -> list[str]:
    """What was guessed, for the terminal."""
    lines = [f"title: {guess.title}", f"id column: {guess.id_column}"]
    lines += [f"question {q['id']}: '{q['column']}'" for q in guess.questions]
    lines += [f"respondent column {k}: '{v}'" for k, v in guess.respondent_columns.items()]
    lines.append(f"weight column: {guess.weight_column or 'none (unweighted)'}")
    for col, names in guess.display_names.items():
        lines.append(
            f"display names for {col}: " + ", ".join(f"{k} = {v}" for k, v in names.items())
        )
    if guess.ignored:
        lines.append(f"not read: {', '.join(guess.ignored)}")
    return lines


def _write_new(path: Path, text: str) -> bool:
    if path.exists():
        return False
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))
    return True


def init(
    root: Path,
    export: Path,
    sheet: str | None = None,
    header_row: int | None = None,
    encoding: str | None = None,
) -> tuple[list[str], list[Path]]:
    """Create (or complete) a workspace; returns (what was guessed, files written)."""
    raw = read_raw(export, sheet=sheet, header_row=header_row, encoding=encoding)
    if raw.frame.empty:
        raise YousaidError(f"{export}: the export has a header but no data rows")
    guess = guess_layout(raw.frame, _title(raw.preamble, export))
    if guess.id_column is None:
        raise YousaidError(
            f"{export}: no column has a unique value in every row to serve as the respondent id; "
            "add one to the export"
        )
    if not guess.questions:
        raise YousaidError(
            f"{export}: no column looks like free-text answers (mostly long, varied text)"
        )
    written: list[Path] = []
    root.mkdir(parents=True, exist_ok=True)
    copy = root / "export" / export.name
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(export, copy)
        written.append(copy)
    elif not filecmp.cmp(export, copy, shallow=False):
        raise YousaidError(
            f"{copy}: a different export of that name is already in the workspace; "
            "rename one of them"
        )
    config = root / CONFIG
    text = render_config(
        guess,
        slug(root.resolve().name, 3),
        [f"export/{export.name}"],
        sheet,
        raw.header_row,
        encoding,
    )
    if _write_new(config, text):
        written.append(config)
    ws = load_workspace(root)  # the analyst's file if there was one: its questions count
    for q in ws.config.questions:
        paths = ws.paths(q)
        paths.labelled.parent.mkdir(parents=True, exist_ok=True)
        for path, body in (
            (paths.responses, RESPONSES),
            (paths.summaries, SUMMARIES),
            (paths.quotes, QUOTES),
        ):
            if _write_new(path, body):
                written.append(path)
    for path, body in ((root / ".gitignore", GITIGNORE),):
        if _write_new(path, body):
            written.append(path)
    dvc = root / "dvc.yaml"
    if not dvc.exists():
        written.append(write_dvc_yaml(dvc, "."))
    return describe(guess), written
