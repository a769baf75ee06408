"""The conversation engine: ``start`` a flow for a contact, ``resume`` a session with what happened next.

Both are pure (DESIGN decision 1): the caller passes the session state, the contact, the programme's assets,
an ``Environment`` holding ``now`` (and a random source for random splits) and a source of ids; the engine
returns a ``Step``: the new session state (plain data, None once the session has ended), the changed contact
and the events the server must apply. A resume walks at most ``MAX_STEPS`` nodes, so a flow that loops
without waiting ends with a failure event instead of hanging.

Positions in a flow are walked as a small state machine: enter a node, run its actions from some index, route
(which may wait for a reply), follow an exit. A run that ends hands control back to the run that entered it,
which routes its node again (usually on ``@child.status``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from flows import actions, context
from flows.contact import Assets, Contact
from flows.env import Environment, iso
from flows.events import (
    ErrorEvent,
    Event,
    FailureEvent,
    FlowEntered,
    Ignored,
    MsgCreated,
    RunEnded,
    RunResultChanged,
    RunStatus,
    SessionEnded,
    SessionWaiting,
    WaitKind,
)
from flows.excellent import evaluate_template, evaluate_template_value
from flows.failure import Failure
from flows.localize import language_for, translated
from flows.model import Category, Flow, Node, Router
from flows.routertests import TestResult, run_test
from flows.session import Run, Session, SessionStatus, Wait
from flows.values.convert import XError, render_value
from flows.values.text import snakify

MAX_STEPS = 100  # nodes entered per resume (goflow's steps per sprint)
MAX_DEPTH = 20  # flows inside flows
MAX_RESULT_LENGTH = 640
# @node.visit_count as the number it is in expressions, made once for the counts most nodes see.
_COUNTS = tuple(Decimal(count) for count in range(256))


@dataclass(frozen=True)
class Msg:
    """A message from the contact."""

    text: str
    uuid: str = ""
    created_on: dt.datetime | None = None


@dataclass(frozen=True)
class TimedOut:
    """The wait's timeout passed without a reply."""


@dataclass(frozen=True)
class Expired:
    """The session's expiry passed without a reply: the waiting run ends as expired."""


@dataclass(frozen=True)
class WebhookResponse:
    """What the server got back from a ``webhook_called`` event; ``status`` 0 means no response at all."""

    status: int
    body: str = ""


Resume = Msg | TimedOut | Expired | WebhookResponse


@dataclass(frozen=True)
class Step:
    session: dict[str, object] | None  # None once the session has ended
    contact: Contact
    events: tuple[Event, ...]
    status: SessionStatus

    @property
    def messages(self) -> list[str]:
        return [event.text for event in self.events if isinstance(event, MsgCreated)]


# --- positions --------------------------------------------------------------------------------------------
# Made at every step and held only by the engine, so plain slotted classes (frozen ones are slower to make).


@dataclass(slots=True)
class _Enter:
    node_uuid: str

    def step(self, sprint: Sprint) -> _Position:
        return sprint._enter(self.node_uuid)


@dataclass(slots=True)
class _Actions:
    node_uuid: str
    index: int

    def step(self, sprint: Sprint) -> _Position:
        return sprint._actions(self.node_uuid, self.index)


@dataclass(slots=True)
class _Route:
    node_uuid: str
    has_input: bool  # True when a reply has just arrived (or the wait is skipped)

    def step(self, sprint: Sprint) -> _Position:
        return sprint._route(self.node_uuid, self.has_input)


@dataclass(slots=True)
class _RouteTimeout:
    node_uuid: str

    def step(self, sprint: Sprint) -> _Position:
        return sprint._route_timeout(self.node_uuid)


@dataclass(slots=True)
class _Exit:
    destination: str | None

    def step(self, sprint: Sprint) -> _Position:
        return sprint._exit(self.destination)


_Position = _Enter | _Actions | _Route | _RouteTimeout | _Exit | None


class Sprint:
    """One call of ``start`` or ``resume``: the session being changed and the events so far."""

    def __init__(
        self, session: Session, contact: Contact, env: Environment, assets: Assets, ids: Callable[[], str]
    ) -> None:
        self.session = session
        self._contact = contact
        self._context: dict[str, object] | None = None  # built once, until something it shows changes
        self.env = env
        self.assets = assets
        self.ids = ids
        self.events: list[Event] = []
        self.steps = 0
        self.skip_wait_at: str | None = None  # a session started by a message answers its first wait with it
        self._flow: Flow | None = None
        self._nodes: Mapping[str, Node] | None = None  # the nodes of the active run's flow, by uuid
        self._language: str | None = None
        # The times of the wait this sprint set (timeout, expiry), kept for finish() to report as they are.
        self._wait_moments: tuple[dt.datetime | None, dt.datetime] | None = None

    # --- helpers for actions ---------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        self.events.append(event)

    @property
    def now(self) -> str:
        return self.env.now_iso

    def flow_of(self, run: Run) -> Flow:
        flow = self.assets.flows.get(run.flow_uuid)
        if flow is None:
            raise Failure(f"the flow {run.flow_uuid} is no longer in the programme", run.flow_uuid)
        return flow

    @property
    def flow(self) -> Flow:
        """The flow of the active run."""
        if self._flow is None:
            self._flow = self.flow_of(self.session.run)
        return self._flow

    def node(self, uuid: str) -> Node:
        nodes = self._nodes
        if nodes is None:
            nodes = self._nodes = self.assets.nodes.get(self.flow.uuid, {})
        node = nodes.get(uuid)
        if node is None:
            flow = self.flow
            raise Failure(f"the flow {flow.name!r} has no node {uuid}", flow.uuid, uuid)
        return node

    @property
    def contact(self) -> Contact:
        return self._contact

    @contact.setter
    def contact(self, changed: Contact) -> None:
        self._contact = changed
        self._context = None
        self._language = None

    def changed(self) -> None:
        """Something expressions can see changed (a result, the runs): build the context again when asked."""
        self._context = None
        self._flow = None
        self._nodes = None

    def context(self, node_uuid: str) -> dict[str, object]:
        if self._context is None:
            self._context = context.build(self.session, self._contact, self.assets, self.flow)
        visits = self.session.run.visits.get(node_uuid, 0)
        count = _COUNTS[visits] if visits < len(_COUNTS) else Decimal(visits)
        return {**self._context, "node": {"uuid": node_uuid, "visit_count": count}}

    @property
    def language(self) -> str:
        if self._language is None:
            self._language = language_for(self._contact, self.env)
        return self._language

    def localized(self, item_uuid: str, prop: str, base: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
        flow, language = self.flow, self.language
        if language == flow.language:  # most contacts speak the flow's own language
            return base, language
        return translated(flow, language, item_uuid, prop, base)

    def template(self, template: str, ctx: Mapping[str, object], node_uuid: str) -> str:
        """A template's text; the parts that failed are reported and render as nothing."""
        text, errors = evaluate_template(template, ctx, self.env)
        for error in errors:
            self.emit(ErrorEvent(error, self.flow.uuid, node_uuid))
        return text

    def save_result(
        self, name: str, value: str, category: str, category_localized: str, input_text: str, node_uuid: str
    ) -> None:
        run = self.session.run
        key = snakify(name)
        if not key:
            self.emit(ErrorEvent(f"result name {name!r} has no letters or digits", run.flow_uuid, node_uuid))
            return
        value, input_text = value[:MAX_RESULT_LENGTH], input_text[:MAX_RESULT_LENGTH]
        # No need to rebuild the context: @results is a live view of run.results.
        run.results[key] = {
            "name": name,
            "value": value,
            "category": category,
            "category_localized": category_localized,
            "input": input_text,
            "node_uuid": node_uuid,
            "created_on": self.now,
            "extra": {},
        }
        self.emit(
            RunResultChanged(
                run_uuid=run.uuid,
                flow_uuid=run.flow_uuid,
                name=name,
                key=key,
                value=value,
                category=category,
                category_localized=category_localized,
                input=input_text,
                node_uuid=node_uuid,
            )
        )

    # --- runs ------------------------------------------------------------------------------------------

    def push_run(self, flow: Flow) -> _Position:
        if len(self.session.runs) >= MAX_DEPTH:
            raise Failure(
                f"flows entered inside each other more than {MAX_DEPTH} deep (does a flow enter itself?)",
                flow.uuid,
            )
        parent = self.session.runs[-1].uuid if self.session.runs else None
        run = Run(uuid=self.ids(), flow_uuid=flow.uuid, status="active", created_on=self.now)
        self.session.runs.append(run)
        self.changed()
        self.emit(FlowEntered(flow.uuid, flow.name, run.uuid, parent))
        if not flow.nodes:
            return _Exit(None)
        return _Enter(flow.nodes[0].uuid)

    def end_run(self, status: RunStatus) -> _Position:
        """End the active run; the run below it (if any) routes the node that entered the ended one."""
        run = self.session.runs.pop()
        run.status = status
        self.changed()
        flow = self.assets.flows.get(run.flow_uuid)
        self.emit(RunEnded(run.flow_uuid, flow.name if flow else "", run.uuid, status))
        self.session.child = {
            "run_uuid": run.uuid,
            "flow_uuid": run.flow_uuid,
            "status": status,
            "results": context.results_context(run.results),
        }
        if not self.session.runs:
            ended: Literal["completed", "expired", "failed"] = (
                "completed" if status == "completed" else "expired" if status == "expired" else "failed"
            )
            self.session.status = ended
            self.emit(SessionEnded(ended))
            return None
        parent = self.session.run
        parent.status = "active"
        if parent.node_uuid is None:
            return _Exit(None)
        return _Route(parent.node_uuid, has_input=True)

    def enter_flow(self, flow: Flow, *, terminal: bool) -> _Position:
        if terminal:
            run = self.session.runs.pop()
            self.changed()
            run.status = "completed"
            self.emit(RunEnded(run.flow_uuid, self.flow_of(run).name, run.uuid, "completed"))
        return self.push_run(flow)

    # --- walking ---------------------------------------------------------------------------------------

    def drive(self, position: _Position) -> None:
        while position is not None:
            position = position.step(self)

    def _enter(self, node_uuid: str) -> _Position:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise Failure(
                f"the flow went through more than {MAX_STEPS} steps without waiting for a reply "
                "(it loops); the conversation was stopped",
                self.flow.uuid,
                node_uuid,
            )
        run = self.session.run
        self.node(node_uuid)  # it exists
        run.visits[node_uuid] = run.visits.get(node_uuid, 0) + 1
        run.node_uuid = node_uuid
        return _Actions(node_uuid, 0)

    def _actions(self, node_uuid: str, start: int) -> _Position:
        node = self.node(node_uuid)
        for index in range(start, len(node.actions)):
            jump = actions.run(self, node, node.actions[index], index)
            if jump is not None:
                return jump.position
        return _Route(node_uuid, has_input=False)

    def wait_for_webhook(self, node_uuid: str, next_index: int) -> _Position:
        self._set_wait("webhook", node_uuid, None, next_index)
        return None

    def _set_wait(
        self, kind: WaitKind, node_uuid: str, timeout_seconds: int | None, action_index: int = 0
    ) -> None:
        expires, expires_text = self.env.after(self.flow.expire_after_minutes * 60)
        timeout, timeout_text = (None, None) if timeout_seconds is None else self.env.after(timeout_seconds)
        self.session.wait = Wait(kind, node_uuid, expires_text, timeout_text, action_index)
        self._wait_moments = (timeout, expires)

    def _route(self, node_uuid: str, has_input: bool) -> _Position:
        node = self.node(node_uuid)
        router = node.router
        if router is None:
            return self._follow_exit(node, node.exits[0].uuid if node.exits else None)
        if router.wait is not None and not has_input:
            # The message that started the session answers the first node's wait (goflow), unless the flow
            # has asked something since: a question must wait for its own answer.
            answered = self.skip_wait_at == node_uuid and not any(
                isinstance(event, MsgCreated) for event in self.events
            )
            if not answered:
                self.skip_wait_at = None
                return self._wait(node, router)
        self.skip_wait_at = None
        if router.kind == "random":
            return self._route_random(node, router)
        return self._route_switch(node, router)

    def _wait(self, node: Node, router: Router) -> _Position:
        flow = self.flow
        if flow.type == "messaging_background":
            raise Failure("a background flow cannot wait for a reply", flow.uuid, node.uuid)
        timeout = router.wait.timeout if router.wait else None
        self._set_wait("msg", node.uuid, timeout.seconds if timeout else None)
        return None

    def _route_switch(self, node: Node, router: Router) -> _Position:
        flow = self.flow
        ctx = self.context(node.uuid)
        operand, errors = evaluate_template_value(router.operand, ctx, self.env)
        for error in errors:
            self.emit(ErrorEvent(error, flow.uuid, node.uuid))
        operand_text = render_value(operand, self.env)
        translating = self.language != flow.language
        for case in router.cases:
            arguments = (
                self.localized(case.uuid, "arguments", case.arguments)[0] if translating else case.arguments
            )
            # Most arguments are plain words: one look at them all, rather than one per argument.
            values = (
                [self.template(argument, ctx, node.uuid) for argument in arguments]
                if "@" in "".join(arguments)
                else arguments
            )
            outcome = run_test(
                case.test, operand, values, self.env, accent_insensitive=flow.accent_insensitive
            )
            if isinstance(outcome, XError):
                self.emit(ErrorEvent(outcome.message, flow.uuid, node.uuid))
            elif isinstance(outcome, TestResult):
                value = render_value(outcome.match, self.env)
                return self._pick(node, router, case.category_uuid, value, operand_text, outcome.extra)
        if router.default_category_uuid is None:
            self.emit(
                ErrorEvent("no case matched and the router has no other category", flow.uuid, node.uuid)
            )
            return self.end_run("completed")
        return self._pick(node, router, router.default_category_uuid, operand_text, operand_text, {})

    def _route_random(self, node: Node, router: Router) -> _Position:
        if self.env.rand is None:
            raise Failure("a random split needs a source of randomness", self.flow.uuid, node.uuid)
        number = self.env.rand()
        index = min(int(number * len(router.categories)), len(router.categories) - 1)
        category = router.categories[index]
        return self._pick(node, router, category.uuid, str(index), repr(number), {})

    def _route_timeout(self, node_uuid: str) -> _Position:
        node = self.node(node_uuid)
        router = node.router
        timeout = router.wait.timeout if router and router.wait else None
        if router is None or timeout is None:
            raise Failure("timed out at a node that has no timeout", self.flow.uuid, node_uuid)
        return self._pick(node, router, timeout.category_uuid, "", "", {})

    def _pick(
        self,
        node: Node,
        router: Router,
        category_uuid: str,
        value: str,
        input_text: str,
        extra: Mapping[str, object],
    ) -> _Position:
        category = _category(router, category_uuid)
        if category is None:
            raise Failure(f"the router has no category {category_uuid}", self.flow.uuid, node.uuid)
        if router.result_name:
            (localized_name,), _ = self.localized(category.uuid, "name", (category.name,))
            self.save_result(router.result_name, value, category.name, localized_name, input_text, node.uuid)
            if extra:
                self.session.run.results[snakify(router.result_name)]["extra"] = _plain_extra(extra)
        return self._follow_exit(node, category.exit_uuid)

    def _follow_exit(self, node: Node, exit_uuid: str | None) -> _Position:
        for candidate in node.exits:
            if candidate.uuid == exit_uuid:
                return _Exit(candidate.destination_uuid)
        if exit_uuid is None:
            return _Exit(None)
        raise Failure(f"the node has no exit {exit_uuid}", self.flow.uuid, node.uuid)

    def _exit(self, destination: str | None) -> _Position:
        if destination is None:
            return self.end_run("completed")
        return _Enter(destination)

    # --- finishing --------------------------------------------------------------------------------------

    def fail(self, failure: Failure) -> None:
        self.emit(FailureEvent(failure.text, failure.flow_uuid, failure.node_uuid))
        while self.session.runs:
            run = self.session.runs.pop()
            flow = self.assets.flows.get(run.flow_uuid)
            self.emit(RunEnded(run.flow_uuid, flow.name if flow else "", run.uuid, "failed"))
        self.session.status = "failed"
        self.session.wait = None
        self.emit(SessionEnded("failed"))

    def finish(self) -> Step:
        session = self.session
        if session.runs and session.wait is not None:
            session.status = "waiting"
            for run in session.runs:
                run.status = "active"
            session.run.status = "waiting"
            wait = session.wait
            # A resume clears the stored wait before it walks, so a wait here is one this sprint set.
            assert self._wait_moments is not None
            timeout_on, expires_on = self._wait_moments
            self.emit(SessionWaiting(wait.kind, wait.node_uuid, timeout_on, expires_on))
            return Step(session.as_dict(), self.contact, tuple(self.events), "waiting")
        return Step(None, self.contact, tuple(self.events), session.status)

    def run_from(self, position: _Position) -> Step:
        try:
            self.drive(position)
        except Failure as failure:
            self.fail(failure)
        return self.finish()


def _plain_extra(extra: Mapping[str, object]) -> dict[str, object]:
    """A test's extra (regex groups) as text, so the session stays plain data."""
    return {str(key): value if isinstance(value, str) else str(value) for key, value in extra.items()}


def _category(router: Router, uuid: str) -> Category | None:
    for category in router.categories:
        if category.uuid == uuid:
            return category
    return None


# --- the public API -----------------------------------------------------------------------------------------


def start(
    flow: Flow,
    contact: Contact,
    *,
    env: Environment,
    assets: Assets,
    ids: Callable[[], str],
    msg: Msg | None = None,
    trigger: Mapping[str, object] | None = None,
) -> Step:
    """Start ``flow`` for ``contact``. ``msg`` is the message that started it (a keyword), if any: the first
    node's wait takes it as its reply, as in RapidPro. ``trigger`` is exposed to expressions as ``@trigger``."""
    if flow.uuid not in assets.flows:
        assets = dataclasses.replace(assets, flows={**assets.flows, flow.uuid: flow})
    session = Session(uuid=ids(), contact_uuid=contact.uuid, status="waiting", runs=[])
    session.trigger = dict(trigger or {})
    sprint = Sprint(session, contact, env, assets, ids)
    if msg is not None:
        session.input = _input(msg, sprint)
        sprint.skip_wait_at = flow.nodes[0].uuid if flow.nodes else None
    try:
        position = sprint.push_run(flow)
    except Failure as failure:  # pragma: no cover - a first run cannot be too deep
        sprint.fail(failure)
        return sprint.finish()
    return sprint.run_from(position)


def resume(
    session_data: Mapping[str, object],
    contact: Contact,
    event: Resume,
    *,
    env: Environment,
    assets: Assets,
    ids: Callable[[], str],
) -> Step:
    """Go on with a waiting session: a reply, a timeout, an expiry or a webhook's response.

    ``SessionError`` if ``session_data`` is not a session; an input the session cannot take (a timeout
    when it waits for a webhook, anything when it has ended) leaves it unchanged with an ``input_ignored``
    event."""
    session = Session.from_dict(session_data)
    sprint = Sprint(session, contact, env, assets, ids)
    wait = session.wait
    if session.status != "waiting" or wait is None:
        return _ignored(session, contact, "the session is not waiting")
    if isinstance(event, Expired):
        session.wait = None
        try:
            return sprint.run_from(sprint.end_run("expired"))
        except Failure as failure:
            sprint.fail(failure)
            return sprint.finish()
    if isinstance(event, WebhookResponse):
        if wait.kind != "webhook":
            return _ignored(session, contact, "the session is not waiting for a webhook")
        session.wait = None
        try:
            actions.webhook_answered(sprint, wait.node_uuid, wait.action_index - 1, event)
        except Failure as failure:
            sprint.fail(failure)
            return sprint.finish()
        return sprint.run_from(_Actions(wait.node_uuid, wait.action_index))
    if wait.kind != "msg":
        return _ignored(session, contact, "the session is waiting for a webhook, not a reply")
    if isinstance(event, TimedOut):
        if wait.timeout_on is None:
            return _ignored(session, contact, "the wait has no timeout")
        session.wait = None
        return sprint.run_from(_RouteTimeout(wait.node_uuid))
    session.input = _input(event, sprint)
    session.wait = None
    return sprint.run_from(_Route(wait.node_uuid, has_input=True))


def interrupt(session_data: Mapping[str, object], contact: Contact, *, assets: Assets) -> Step:
    """End a session because something else takes over the conversation (a keyword, a campaign flow)."""
    session = Session.from_dict(session_data)
    events: list[Event] = []
    while session.runs:
        run = session.runs.pop()
        flow = assets.flows.get(run.flow_uuid)
        events.append(RunEnded(run.flow_uuid, flow.name if flow else "", run.uuid, "interrupted"))
    events.append(SessionEnded("interrupted"))
    return Step(None, contact, tuple(events), "interrupted")


def _input(msg: Msg, sprint: Sprint) -> dict[str, str]:
    created_on = sprint.now if msg.created_on is None else iso(msg.created_on)
    return {"text": msg.text, "uuid": msg.uuid, "created_on": created_on}


def _ignored(session: Session, contact: Contact, reason: str) -> Step:
    return Step(
        session.as_dict() if session.status == "waiting" else None,
        contact,
        (Ignored(reason),),
        session.status,
    )
