"""What an import could not carry over as it was, node by node, so an author knows what to rework.

Nothing is dropped silently: an action recado cannot run stays in the flow (as ``UnsupportedAction``) and is
listed here; anything the import had to change (a truncated name, a dropped attachment, a smart group made
static) is listed too, and so are the problems flow validation finds in the imported flows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

# unsupported: kept in the programme but recado will not run it (an action, a router test, a feature), or
#   left out (a trigger type, a campaign event) when there is nothing to keep;
# changed: the import converted or dropped something, and the flows still run;
# problem: validation found an error the author must fix before the programme loads (recado flows check);
# warning: validation found something the author probably did not mean, but that runs.
Severity = Literal["unsupported", "changed", "problem", "warning"]
SEVERITIES: tuple[Severity, ...] = ("unsupported", "problem", "changed", "warning")


@dataclass(frozen=True)
class ReportEntry:
    severity: Severity
    subject: str  # what it is about: "action send_email", "test has_state", "flow type voice"; "" if plain
    message: str  # what happened and what to do, in a sentence
    flow: str | None = None  # the flow's name, for entries about a flow
    node: str | None = None  # the node's uuid, for entries about a node

    def line(self) -> str:
        where = f"node {self.node}: " if self.node else ""
        about = f" {self.subject}" if self.subject else ""
        return f"{where}{self.severity}{about}: {self.message}"


@dataclass(frozen=True)
class ImportCounts:
    flows: int = 0
    fields: int = 0
    groups: int = 0
    campaigns: int = 0
    campaign_events: int = 0
    triggers: int = 0


@dataclass(frozen=True)
class ImportReport:
    source: str
    entries: tuple[ReportEntry, ...] = ()
    counts: ImportCounts = field(default_factory=ImportCounts)

    def about_flow(self, name: str) -> tuple[ReportEntry, ...]:
        return tuple(entry for entry in self.entries if entry.flow == name)

    def of(self, severity: Severity) -> tuple[ReportEntry, ...]:
        return tuple(entry for entry in self.entries if entry.severity == severity)

    def summary(self) -> str:
        c = self.counts
        imported = (
            f"imported {_plural(c.flows, 'flow')}, {_plural(c.fields, 'field')}, {_plural(c.groups, 'group')}, "
            f"{_plural(c.campaigns, 'campaign')} ({_plural(c.campaign_events, 'event')}), "
            f"{_plural(c.triggers, 'trigger')}"
        )
        findings = ", ".join(
            _plural(len(self.of(severity)), severity)
            if severity in {"problem", "warning"}
            else f"{len(self.of(severity))} {severity}"
            for severity in ("unsupported", "changed", "problem", "warning")
        )
        return f"{self.source}: {imported}; {findings}"

    def render(self) -> str:
        """The report for a terminal: entries grouped by flow (in import order), then the rest, then the summary."""
        lines: list[str] = []
        for flow in _unique(entry.flow for entry in self.entries if entry.flow is not None):
            lines.append(f'flow "{flow}"')
            lines.extend(f"  {entry.line()}" for entry in _ordered(self.about_flow(flow)))
        rest = [entry for entry in self.entries if entry.flow is None]
        if rest:
            lines.append("programme")
            lines.extend(f"  {entry.line()}" for entry in _ordered(rest))
        lines.append(self.summary())
        return "\n".join(lines)


def _ordered(entries: Iterable[ReportEntry]) -> list[ReportEntry]:
    # sorted() is stable, so entries of one severity keep the order in which the import met them
    return sorted(entries, key=lambda entry: SEVERITIES.index(entry.severity))


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
