"""`yousaid redact FILE`: redact a text column of a table, or the lines of a text file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline.errors import InputError

TEXT_SUFFIXES = (".txt",)


def _read_lines(path: Path) -> list[str]:
    if not path.exists():
        raise InputError(str(path), "no such file")
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding).splitlines()
        except UnicodeDecodeError:
            continue
    raise InputError(str(path), "cannot decode the file as utf-8 or cp1252")


def workspace_rules(
    workspace: str | Path | None = None,
) -> tuple[tuple[str, ...], dict[str, str]]:
    """(`redaction_allow`, `redaction_patterns`) of --workspace, else of a consultation.yaml in
    the current folder (or $YOUSAID_WORKSPACE); none when there is no workspace to ask."""
    from pipeline.workspace import CONFIG, find_root, load_workspace

    if workspace is None and not (find_root(None) / CONFIG).is_file():
        return (), {}
    config = load_workspace(workspace).config
    return tuple(config.redaction_allow), dict(config.redaction_patterns)


def redact_file(
    path: str | Path,
    out: str | Path,
    column: str = "text",
    allow: Sequence[str] = (),
    patterns: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Write `out` with `column` (or every line of a .txt) redacted; returns counts per category.

    Other columns pass through untouched. The output type follows `out`'s extension; a .txt
    output holds one redacted text per line.
    """
    import pandas as pd

    from pipeline.privacy.redact import counts, redact_many
    from pipeline.tables import read_raw, write_atomic, write_table

    path, out = Path(path), Path(out)
    if path.suffix.lower() in TEXT_SUFFIXES:
        frame = pd.DataFrame({column: _read_lines(path)})
    else:
        frame = read_raw(path).frame.copy()
        if column not in frame.columns:
            have = ", ".join(map(str, frame.columns)) or "none"
            raise InputError(str(path), f"no such column (columns: {have})", column=column)
    redactions = redact_many(
        frame[column].fillna("").astype(str).tolist(), allow=allow, patterns=patterns
    )
    frame[column] = [r.text for r in redactions]
    if out.suffix.lower() in TEXT_SUFFIXES:
        body = "".join(line.replace("\n", " ") + "\n" for line in frame[column])
        write_atomic(out, lambda p: p.write_text(body, encoding="utf-8"))
    else:
        write_table(frame, out)
    return counts(redactions)
