"""Small builders for flows in engine tests, and a deterministic world to run them in."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Sequence

from flows import model
from flows.contact import Assets, Contact
from flows.env import Environment

NOW = dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.UTC)


def counter_ids(prefix: str = "0000") -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"{prefix}0000-0000-4000-8000-{next(numbers):012d}"


def env(now: dt.datetime = NOW, rand: Callable[[], float] | None = None, **kw: object) -> Environment:
    options: dict[str, object] = {"allowed_languages": ("spa", "eng"), **kw}
    return Environment(now=now, rand=rand, **options)  # type: ignore[arg-type]


def contact(**kw: object) -> Contact:
    options: dict[str, object] = {"uuid": "c0000000-0000-4000-8000-000000000001", "name": "Ana López"}
    options.update(kw)
    return Contact(**options)  # type: ignore[arg-type]


def send(text: str, uuid: str = "", quick_replies: Sequence[str] = ()) -> model.SendMsg:
    return model.SendMsg(uuid or f"send-{abs(hash(text)) % 10**8}", text, tuple(quick_replies))


def say(uuid: str, *actions: model.Action, to: str | None = None) -> model.Node:
    """A node that runs its actions and goes to ``to`` (None ends the run)."""
    return model.Node(uuid, tuple(actions), None, (model.Exit(f"{uuid}-exit", to),))


def ask(
    uuid: str,
    *actions: model.Action,
    cases: Sequence[tuple[str, Sequence[str], str, str | None]] = (),
    other: str | None = None,
    timeout: tuple[int, str | None] | None = None,
    result: str | None = None,
    operand: str = "@input.text",
    wait: bool = True,
) -> model.Node:
    """A node with a switch router. ``cases`` are (test, arguments, category name, destination); cases naming
    the same category share it. ``other`` is the destination of the default category "Other"."""
    categories: dict[str, tuple[model.Category, str | None]] = {}
    model_cases: list[model.Case] = []

    def category(name: str, destination: str | None) -> model.Category:
        if name not in categories:
            number = len(categories)
            categories[name] = (
                model.Category(f"{uuid}-cat{number}", name, f"{uuid}-exit{number}"),
                destination,
            )
        return categories[name][0]

    for index, (test, args, name, destination) in enumerate(cases):
        model_cases.append(
            model.Case(f"{uuid}-case{index}", test, tuple(args), category(name, destination).uuid)
        )
    default = category("Other", other).uuid
    timeout_spec = None
    if timeout is not None:
        timeout_spec = model.Timeout(timeout[0], category("No Response", timeout[1]).uuid)
    router = model.Router(
        kind="switch",
        categories=tuple(cat for cat, _ in categories.values()),
        operand=operand,
        cases=tuple(model_cases),
        default_category_uuid=default,
        result_name=result,
        wait=model.Wait(timeout_spec) if wait else None,
    )
    exits = tuple(model.Exit(cat.exit_uuid, destination) for cat, destination in categories.values())
    return model.Node(uuid, tuple(actions), router, exits)


def flow(name: str, *nodes: model.Node, uuid: str = "", **kw: object) -> model.Flow:
    options: dict[str, object] = {"language": "spa"}
    options.update(kw)
    return model.Flow(uuid or f"flow-{name}", name, nodes=tuple(nodes), **options)  # type: ignore[arg-type]


def assets(
    *flows: model.Flow, fields: Sequence[model.FieldDef] = (), groups: Sequence[model.GroupRef] = ()
) -> Assets:
    return Assets.of(flows, fields, groups)
