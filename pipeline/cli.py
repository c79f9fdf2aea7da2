"""The `yousaid` command: a thin shell over pipeline.stages. Parse, run, print the next step.

Results (file paths) go to stdout; summaries, progress and the next step go to stderr.
"""

from __future__ import annotations

import errno
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from pipeline.errors import NotReady, YousaidError
from pipeline.logs import setup_logging

log = logging.getLogger("yousaid")

app = typer.Typer(
    help="Code free-text consultation comments into themes, with analysts in the loop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: $YOUSAID_WORKSPACE or .)."),
]
QuestionOpt = Annotated[
    str | None, typer.Option("--question", "-q", help="Question id (default: every question).")
]
UrlOpt = Annotated[
    str | None, typer.Option("--url", help="Label Studio URL (else LABEL_STUDIO_URL, label.url).")
]


def say(text: str) -> None:
    typer.echo(text, err=True)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    setup_logging(verbose)


def each_question(workspace: Path | None, question: str | None, step: Callable) -> None:
    """Run `step(ws, q)` for the chosen questions; print its files, summary and the next step."""
    from pipeline.privacy.store import stored_redactions
    from pipeline.stages.status import next_step
    from pipeline.workspace import load_workspace

    ws = load_workspace(workspace)
    for q in ws.select(question):
        with stored_redactions(ws.redactions_dir):
            outcome = step(ws, q)
        say(f"[{q.id}] {outcome.summary}")
        for path in outcome.outputs.values():
            typer.echo(path)
        say(f"[{q.id}] next: {next_step(ws, q)}")


def _stage_command(name: str, help_text: str) -> None:
    def command(workspace: WorkspaceOpt = None, question: QuestionOpt = None) -> None:
        from pipeline.stages import BY_NAME

        each_question(workspace, question, BY_NAME[name].run)

    command.__doc__ = help_text
    app.command(name)(command)


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="Workspace folder to create.")],
    export: Annotated[Path, typer.Option("--from", help="The export (.csv/.xlsx/.parquet).")],
    sheet: Annotated[str | None, typer.Option(help="The .xlsx sheet (default: the first).")] = None,
    header_row: Annotated[
        int | None, typer.Option(help="Row of the column names (default: found below titles).")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="The export's encoding (default: utf-8, else cp1252).")
    ] = None,
) -> None:
    """Create a consultation workspace from an export; print the guesses."""
    from pipeline.stages.init import init as create

    guessed, written = create(folder, export, sheet, header_row, encoding)
    for line in guessed:
        say(f"guessed {line}")
    for path in written:
        typer.echo(path)
    if not written:
        say(f"{folder}: already a workspace; nothing overwritten")
    say(
        f"next: check {folder / 'consultation.yaml'}, then "
        f"`yousaid run --workspace {folder}` (ingest, embed, discover: a starter codebook)"
    )


@app.command("ingest")
def ingest_command(
    workspace: WorkspaceOpt = None,
    question: QuestionOpt = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            help="Encoding of the .csv export(s), e.g. cp1252 or utf-16 "
            "(default: settings.ingest.encoding, else detected)."
        ),
    ] = None,
) -> None:
    """Read the export: one validated comments table per question."""
    from pipeline.settings import known_encoding
    from pipeline.stages import ingest as stage

    if encoding is not None:
        try:
            known_encoding(encoding)
        except ValueError as exc:
            raise YousaidError(f"--encoding: {exc}") from None
    each_question(workspace, question, lambda ws, q: stage.run(ws, q, encoding))


_stage_command("embed", "Embed every comment (cached per text and model).")
_stage_command("discover", "Find topics; write a starter codebook where there is none.")
_stage_command("train", "Train the theme classifier on the question's hand labels.")


@app.command()
def code(
    workspace: WorkspaceOpt = None,
    question: QuestionOpt = None,
    model: Annotated[
        Path | None, typer.Option(help="A model directory (with --comments: no workspace needed).")
    ] = None,
    comments: Annotated[
        Path | None, typer.Option(help="A table with id and text columns, to code with --model.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output .csv/.xlsx/.parquet (with --model).")
    ] = None,
) -> None:
    """Code every comment: probabilities, codes, review flags."""
    if model is None and comments is None:
        from pipeline.stages import BY_NAME

        each_question(workspace, question, BY_NAME["code"].run)
        return
    if model is None or comments is None:
        raise YousaidError(
            "give both --model DIR and --comments FILE (or neither, for a workspace)"
        )
    from pipeline.settings import ClassifierSettings
    from pipeline.stages.code import code_file

    target = out or comments.with_name(f"{comments.stem}.coded.csv")
    path, line = code_file(model, comments, target, ClassifierSettings().review_doubt)
    say(line)
    typer.echo(path)


_stage_command("report", 'Counts, breakdowns, quotes and the "you said, we did" report.')


@app.command()
def evaluate(
    labelled: Annotated[Path, typer.Option(help="Held-out labelled comments.")],
    model: Annotated[
        Path | None, typer.Option(help="Model directory (default: the question's model).")
    ] = None,
    workspace: WorkspaceOpt = None,
    question: QuestionOpt = None,
    out: Annotated[Path | None, typer.Option(help="Write the metrics JSON here too.")] = None,
) -> None:
    """Score a model on held-out labelled data it was not trained on."""
    import json

    from pipeline import modeldir
    from pipeline.coding import evaluate as evaluate_model
    from pipeline.embed import embed_texts
    from pipeline.labelled import read_labelled
    from pipeline.tables import write_atomic
    from pipeline.workspace import load_workspace

    if model is None:
        ws = load_workspace(workspace)
        chosen = ws.select(question)
        if len(chosen) != 1:
            raise YousaidError("give --question ID (or --model DIR): evaluate scores one model")
        model = ws.paths(chosen[0]).model_dir
    trained = modeldir.load(model)
    frame = read_labelled(labelled, trained.codebook)
    vectors, _ = embed_texts(frame["text"].tolist(), trained.meta["embedding_model"])
    text = json.dumps(evaluate_model(trained, frame, vectors), indent=2)
    if out:
        write_atomic(out, lambda path: path.write_text(text + "\n", encoding="utf-8"))
    typer.echo(text)


codebook_app = typer.Typer(help="Work on a question's codebook.", no_args_is_help=True)
app.add_typer(codebook_app, name="codebook")


@codebook_app.command("suggest")
def codebook_suggest(
    workspace: WorkspaceOpt = None,
    question: QuestionOpt = None,
    refresh: Annotated[bool, typer.Option(help="Run discovery again first.")] = False,
) -> None:
    """Write new-theme candidates as codebook entries to paste in."""
    from pipeline.stages.discover import suggest

    each_question(workspace, question, lambda ws, q: suggest(ws, q, refresh))


@codebook_app.command("promote")
def codebook_promote(
    cluster: Annotated[
        int, typer.Argument(help="Emerging cluster number (reports/emerging.json).")
    ],
    workspace: WorkspaceOpt = None,
    question: QuestionOpt = None,
) -> None:
    """Add an emerging theme from the last report to the codebook, as a draft theme."""
    from pipeline.stages.promote import promote

    each_question(workspace, question, lambda ws, q: promote(ws, q, cluster))


label_app = typer.Typer(help="Choose, push and pull comments for labelling.", no_args_is_help=True)
app.add_typer(label_app, name="label")


@label_app.command("next")
def label_next(
    workspace: WorkspaceOpt = None,
    question: QuestionOpt = None,
    n: Annotated[int, typer.Option("--n", help="How many comments.")] = 50,
) -> None:
    """List the comments to label next (least certain, or a random first batch)."""
    from pipeline.stages.base import Outcome
    from pipeline.stages.label import choose

    def step(ws, q):
        comments, chosen, how = choose(ws, q, n)
        for row in comments.iloc[chosen][["id", "text"]].itertuples():
            typer.echo(f"{row.id}\t{row.text}")
        return Outcome({}, f"{len(chosen)} comments chosen by {how}")

    each_question(workspace, question, step)


@label_app.command("push")
def label_push(
    workspace: WorkspaceOpt = None,
    question: QuestionOpt = None,
    n: Annotated[
        int | None,
        typer.Option(
            "--n", help="Model-chosen (train) comments; default label.batch, 0 with --audit."
        ),
    ] = None,
    url: UrlOpt = None,
    audit: Annotated[
        str | None,
        typer.Option(
            "--audit",
            help="Also push N blind random comments (no suggestions) to check the model; "
            "'auto' for the suggested size.",
        ),
    ] = None,
    halfwidth: Annotated[
        float, typer.Option(help="--audit auto: +/- share wanted for a theme at 10%.")
    ] = 0.05,
) -> None:
    """Send the next comments to the question's Label Studio project."""
    from pipeline.stages.label import push

    each_question(
        workspace, question, lambda ws, q: push(ws, q, n, url, audit=audit, halfwidth=halfwidth)
    )


@label_app.command("pull")
def label_pull(
    workspace: WorkspaceOpt = None, question: QuestionOpt = None, url: UrlOpt = None
) -> None:
    """Fetch labels from Label Studio into labelled.csv; agreement between coders."""
    from pipeline.stages.label import pull

    each_question(workspace, question, lambda ws, q: pull(ws, q, url))


@app.command()
def status(workspace: WorkspaceOpt = None) -> None:
    """Where each question stands, and what to do next."""
    from dataclasses import asdict

    from rich.console import Console
    from rich.table import Table

    from pipeline.stages.status import question_status
    from pipeline.workspace import load_workspace

    ws = load_workspace(workspace)
    rows = [asdict(question_status(ws, q)) for q in ws.config.questions]
    table = Table(title=ws.config.title)
    for column in rows[0]:
        if column != "next":
            table.add_column(column)
    for row in rows:
        table.add_row(*(v for k, v in row.items() if k != "next"))
    console = Console(width=200)
    console.print(table)
    for row in rows:
        console.print(f"[{row['question']}] next: {row['next']}", markup=False, soft_wrap=True)


@app.command()
def dvc(workspace: WorkspaceOpt = None) -> None:
    """Write the workspace's dvc.yaml from the stage registry."""
    from pipeline.dvcfile import write_dvc_yaml
    from pipeline.workspace import find_root

    typer.echo(write_dvc_yaml(find_root(workspace) / "dvc.yaml", "."))


@app.command()
def run(workspace: WorkspaceOpt = None, question: QuestionOpt = None) -> None:
    """Run every stage for each question as far as it can go."""
    from pipeline.privacy.store import stored_redactions
    from pipeline.stages import STAGES
    from pipeline.stages.status import next_step
    from pipeline.workspace import load_workspace

    ws = load_workspace(workspace)
    timings: list[tuple[str, str, float]] = []
    produced: list[Path] = []
    for q in ws.select(question):
        for stage in STAGES:
            start = time.perf_counter()
            log.info("[%s] stage %s ...", q.id, stage.name)
            try:
                with stored_redactions(ws.redactions_dir):
                    outcome = stage.run(ws, q)
            except NotReady as exc:
                say(f"[{q.id}] {stage.name}: not yet: {exc}")
                break
            timings.append((q.id, stage.name, time.perf_counter() - start))
            say(f"[{q.id}] {stage.name}: {outcome.summary}")
            produced.extend(outcome.outputs.values())
    say("stage timings:")
    for qid, name, seconds in timings:
        say(f"  {qid:<16} {name:<10} {seconds:7.1f} s")
    typer.echo("produced:")
    for path in dict.fromkeys(produced):
        typer.echo(f"  {path}")
    for q in ws.select(question):
        say(f"[{q.id}] next: {next_step(ws, q)}")


@app.command("redact")
def redact_command(
    file: Annotated[
        Path, typer.Argument(help="A .csv/.xlsx/.parquet table, or a .txt file (a text a line).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The redacted copy to write.")],
    column: Annotated[str, typer.Option(help="The column to redact (tables).")] = "text",
    workspace: WorkspaceOpt = None,
) -> None:
    """Redact personal data in a table's text column (or a .txt file).

    Names in the workspace's `redaction_allow` (consultation.yaml) are kept; its
    `redaction_patterns` are redacted too.
    """
    from pipeline.privacy import redact_file
    from pipeline.privacy.files import workspace_rules

    allow, patterns = workspace_rules(workspace)
    found = redact_file(file, out, column, allow, patterns)
    if found:
        say("redacted: " + ", ".join(f"{category} {n}" for category, n in found.items()))
    else:
        say("redacted: nothing found")
    typer.echo(out)


def _os_error(exc: OSError) -> str:
    """An OSError as the analyst needs it: which file, what went wrong, what to do."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason += " (free some disk space and run the command again)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason += " (check the folder's permissions)"
    if exc.filename is not None:
        return f"{exc.filename}: {reason}"
    return f"`yousaid {' '.join(sys.argv[1:])}`: {reason}"


def entry() -> None:
    """The console script: what an analyst can act on is one `error:` line, exit code 2.

    A full disk or a read-only folder is the analyst's to fix, so it is reported like bad input;
    `--verbose` still logs the traceback.
    """
    try:
        app()
    except (YousaidError, OSError) as exc:
        log.debug("traceback", exc_info=True)
        message = str(exc) if isinstance(exc, YousaidError) else _os_error(exc)
        typer.echo(f"error: {' '.join(message.splitlines())}", err=True)
        sys.exit(2)
