"""Ingest one question: its answers from the export(s), with the respondent columns."""

from __future__ import annotations

from pipeline.ingest import ingest
from pipeline.stages.base import Outcome
from pipeline.tables import DELIMITERS, write_table
from pipeline.workspace import Question, Workspace


def column_map(ws: Workspace, q: Question) -> dict[str, str]:
    """Export header -> contract name, for this question."""
    c = ws.config
    columns = {c.id_column: "id", q.column: "text"}
    if c.weight_column:
        columns[c.weight_column] = "weight"
    columns.update({export: name for name, export in c.respondent_columns.items()})
    return columns


def run(ws: Workspace, q: Question, encoding: str | None = None) -> Outcome:
    """`encoding` (yousaid ingest --encoding) overrides settings.ingest.encoding for this run."""
    s = ws.settings.ingest
    src = ws.config.source
    keep = [*ws.respondent_columns, *(["weight"] if ws.config.weight_column else [])]
    result = ingest(
        ws.inputs,
        columns=column_map(ws, q),
        sheet=src.sheet,
        on_bad_rows=s.on_bad_rows,
        extra_non_answers=s.extra_non_answers,
        header_row=src.header_row,
        keep=keep,
        encoding=encoding or s.encoding,
    )
    paths = ws.paths(q)
    write_table(result.comments, paths.comments)
    write_table(result.rejected, paths.rejected)
    n = result.summary
    read_as = []
    encodings = sorted({e for e in result.encodings.values() if e})
    if encodings:
        read_as.append(f"encoding {', '.join(encodings)}")
    delimiters = sorted({DELIMITERS[d] for d in result.delimiters.values() if d})
    if delimiters:
        read_as.append(f"delimiter {', '.join(delimiters)}")
    return Outcome(
        {"comments": paths.comments, "rejected": paths.rejected},
        f"rows read {n['rows_read']}: substantive {n['substantive']}, flagged non-substantive "
        f"{n['flagged_non_substantive']}, rejected {n['rejected']}"
        + (f" ({'; '.join(read_as)})" if read_as else "")
        + "".join(f"; warning: {note}" for note in result.notes),
    )
