"""The package's own error family: every mistake a user can cause is one of these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["AllocatorError", "ScenarioError", "Problem", "InfeasibleError", "SolverError"]


class AllocatorError(Exception):
    """Base of every error a user can cause; the CLI prints it without a traceback."""


@dataclass(frozen=True)
class Problem:
    """One mistake in a scenario: where it is and what would be right."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ScenarioError(AllocatorError):
    """A scenario file (or override) that cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    @classmethod
    def single(cls, file: str | Path, message: str, path: str = "", line: int | None = None):
        return cls([Problem(str(file), path, message, line)])


class InfeasibleError(AllocatorError):
    """No plan satisfies the scenario; the message names the conflicting constraints."""


class SolverError(AllocatorError):
    """A solver failed or returned a status we cannot trust."""
