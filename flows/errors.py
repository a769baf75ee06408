"""Problems found in flow files and programmes, located by file, line and column.

Authors fix problems in an editor, so every problem carries where it is (``registro.yaml:31:13``) and a
message in plain words. Warnings (an unreachable node, say) are reported beside errors but do not stop a flow
from loading.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    source: str
    line: int | None  # 1-based
    column: int | None  # 1-based
    message: str
    level: Level = "error"

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        prefix = "warning: " if self.level == "warning" else ""
        return f"{where}: {prefix}{self.message}"


class FlowFileError(Exception):
    """A flow file or programme that cannot be loaded; ``problems`` holds every problem found, not just the
    first, so an author can fix them all in one pass."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.level == "error")


def has_errors(problems: Iterable[Problem]) -> bool:
    return any(p.level == "error" for p in problems)


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Problems in reading order: by file, then line and column (unlocated ones first in their file)."""
    return sorted(problems, key=lambda p: (p.source, p.line or 0, p.column or 0))
