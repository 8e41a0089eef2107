"""One exception base, turned into a one-line error by the CLI."""

from __future__ import annotations


class HPSearchError(Exception):
    """Anything hpsearch reports to the user as one line (exit code 2 or 1)."""

    exit_code = 1


class Found(str):
    """A description of what was found (e.g. 'a directory'), shown as is rather than repr'd."""


class StudyError(HPSearchError):
    """A study file (or an option) is malformed: the user must fix the input."""

    exit_code = 2

    def __init__(
        self, source: str, key: str | None, expected: str, got: object, line: int | None = None
    ) -> None:
        where = source if line is None else f"{source}:{line}"
        what = f"{where}: {key}: " if key else f"{where}: "
        shown = str(got) if isinstance(got, Found) else repr(got)
        super().__init__(f"{what}expected {expected}, got {shown}")
        self.source, self.key, self.expected, self.got = source, key, expected, got


class DataError(HPSearchError):
    """A dataset cannot be found or loaded."""

    exit_code = 2


class AllTrialsFailed(HPSearchError):
    """Every trial of an engine failed; the failure table was written."""

    exit_code = 1


class InputError(HPSearchError):
    """Bad input other than a study file (e.g. a folder that is not a run directory)."""

    exit_code = 2


class ResumeMismatch(InputError):
    """The run to resume does not match the study or the data any more."""


class Interrupted(HPSearchError):
    """Ctrl-C: finished work is on disk; the message says how to resume."""

    exit_code = 130
