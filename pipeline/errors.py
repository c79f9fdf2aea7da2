"""Errors that reach the analyst as one line, naming where the problem is."""

from __future__ import annotations


class YousaidError(Exception):
    """Any error the CLI should print as one clear line (no traceback) and exit non-zero."""


class InputError(YousaidError):
    """Bad input data: the message names the file, and the row and column where known."""

    def __init__(
        self,
        file: str,
        message: str,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file, self.row, self.column, self.reason = str(file), row, column, message
        where = [self.file]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {message}")


class NotReady(YousaidError):
    """A stage cannot run yet (no codebook, too few labels): the message names what to do first.

    `yousaid run` reports it and goes on with the next question instead of failing.
    """
