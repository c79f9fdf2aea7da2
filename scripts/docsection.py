"""One benchmark's section of docs/benchmarks.md, replaced in place: each `make bench*` script
owns the text between its `<!-- NAME:start -->` and `<!-- NAME:end -->` markers and leaves every
other section alone."""

from __future__ import annotations

from pathlib import Path

from pipeline.tables import write_atomic

NEW_DOC = "# Benchmarks\n\nMeasured on this project's 2-core, 24 GiB machine.\n"


def replace_section(text: str, name: str, body: str, heading: str | None = None) -> str:
    """`text` with the marked section `name` holding `body`.

    Without markers, an unmarked copy under `heading` (up to the next `## ` or marker line) is
    replaced; failing that the section is appended.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        return before + section + rest.split(end, 1)[1]
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines) if heading and line.strip() == heading), None)
    if at is None:
        return text.rstrip() + "\n\n" + section + "\n"
    stop = next(
        (i for i in range(at + 1, len(lines)) if lines[i].startswith(("## ", "<!-- "))),
        len(lines),
    )
    tail = "\n".join(lines[stop:]).strip()
    return (
        "\n".join(lines[:at]).rstrip() + "\n\n" + section + "\n" + (f"\n{tail}\n" if tail else "")
    )


def write_section(doc: Path, name: str, body: str, heading: str | None = None) -> Path:
    """Replace (or add) the section in `doc`, written atomically."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else NEW_DOC
    new = replace_section(text, name, body, heading)
    return write_atomic(doc, lambda p: p.write_text(new, encoding="utf-8"))
