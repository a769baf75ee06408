"""Engine resumes per second on one core, for a typical router node.

The flow is a ring of questions, as in a weekly check-in: each node sends a personalised message
(``@contact.first_name``, a field), waits, and routes the reply over three word tests into a named result. Each
resume takes the stored session (plain data), the reply, routes it, records the result, sends the next
question and returns the new session: exactly what the server's runner asks of the engine per inbound SMS.

Target (DESIGN.md): at least 20,000 resumes per second on one core. Wall time and the process's CPU time are
both reported, each the best of ROUNDS rounds: a busy machine inflates CPU time far less than wall time. Where
``valgrind`` is installed, the instructions one more resume costs are counted too (:mod:`bench.callgrind`): a
figure that does not move with the machine, for judging changes to the engine (about a minute more).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import sys
import time
import uuid
from collections.abc import Callable

from bench import callgrind
from bench.common import write_result
from flows import engine, model
from flows.contact import Assets, Contact
from flows.env import Environment

TARGET = 20_000
QUESTIONS = 10
RESUMES = 60_000
ROUNDS = 6
WARM_UP = 2_000
COUNTED = (1_000, 6_000)  # resumes of the two runs whose instructions are counted
REPLIES = ("sí, ya fui", "no pude ir", "quizás mañana", "SI", "no", "¿qué?")


def question(index: int) -> model.Node:
    node = f"q{index}"
    following = f"q{(index + 1) % QUESTIONS}"
    categories = (
        model.Category(f"{node}-yes", "Sí", f"{node}-e0"),
        model.Category(f"{node}-no", "No", f"{node}-e1"),
        model.Category(f"{node}-maybe", "Quizás", f"{node}-e2"),
        model.Category(f"{node}-other", "Other", f"{node}-e3"),
    )
    router = model.Router(
        kind="switch",
        categories=categories,
        operand="@input.text",
        cases=(
            model.Case(f"{node}-c0", "has_any_word", ("sí si yes",), f"{node}-yes"),
            model.Case(f"{node}-c1", "has_any_word", ("no",), f"{node}-no"),
            model.Case(f"{node}-c2", "has_any_word", ("quizás quizas tal vez",), f"{node}-maybe"),
        ),
        default_category_uuid=f"{node}-other",
        result_name=f"Pregunta {index}",
        wait=model.Wait(model.Timeout(86_400, f"{node}-other")),
    )
    send = model.SendMsg(
        f"{node}-send",
        f"Hola @contact.first_name, semana @fields.semanas: ¿fuiste a tu cita {index}?",
    )
    exits = tuple(model.Exit(f"{node}-e{i}", following) for i in range(4))
    return model.Node(node, (send,), router, exits)


def _resumer() -> Callable[[int], engine.Step]:
    """The ring of questions started for a contact, and a function that answers ``count`` of them."""
    flow = model.Flow(
        "6d1f6f8e-0000-4000-8000-000000000001",
        "Seguimiento",
        "spa",
        tuple(question(i) for i in range(QUESTIONS)),
        accent_insensitive=True,
    )
    assets = Assets.of([flow], [model.FieldDef("semanas", "Semanas", "number")])
    contact = Contact(uuid=str(uuid.uuid4()), name="María López", language="spa", fields={"semanas": 20})
    env = Environment(now=dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.UTC))
    ids = lambda: str(uuid.uuid4())  # noqa: E731
    step = engine.start(flow, contact, env=env, assets=assets, ids=ids)
    replies = itertools.cycle(REPLIES)

    def resume(count: int) -> engine.Step:
        nonlocal step
        for _ in range(count):
            assert step.session is not None
            step = engine.resume(
                step.session, step.contact, engine.Msg(next(replies)), env=env, assets=assets, ids=ids
            )
        return step

    return resume


def _timed(resume: Callable[[int], engine.Step], count: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``count`` resumes."""
    began, began_cpu = time.perf_counter(), time.process_time()
    resume(count)
    return time.perf_counter() - began, time.process_time() - began_cpu


def main(argv: list[str] | None = None) -> None:
    """``argv``: the options; none when ``python -m bench`` runs every benchmark with its defaults."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv or [])
    resume = _resumer()
    resume(WARM_UP)  # warm the caches (parsed templates)
    if args.count is not None:  # a counted run (bench.callgrind): the resumes and nothing else
        resume(args.count)
        return
    # Best and median of several rounds: the best shows what one quiet core does, the median how noisy it was.
    measured = [_timed(resume, RESUMES // ROUNDS) for _ in range(ROUNDS)]
    rounds = sorted(wall for wall, _ in measured)
    seconds = rounds[0] * ROUNDS
    cpu_seconds = min(cpu for _, cpu in measured) * ROUNDS
    assert resume(0).status == "waiting", "the ring of questions should keep waiting"
    per_second = round(RESUMES / seconds)
    metrics: dict[str, object] = {
        "resumes": RESUMES,
        "rounds": ROUNDS,
        "resumes_per_second": per_second,
        "median_resumes_per_second": round(RESUMES / ROUNDS / rounds[ROUNDS // 2]),
        "microseconds_per_resume": round(seconds / RESUMES * 1e6, 1),
        "cpu_resumes_per_second": round(RESUMES / cpu_seconds),
        "cpu_microseconds_per_resume": round(cpu_seconds / RESUMES * 1e6, 1),
    }
    if callgrind.available():
        counted = callgrind.marginal(lambda n: ["-m", "bench.bench_engine", f"--count={n}"], *COUNTED)
        metrics["instructions_per_resume"] = counted[2]
    write_result(
        "engine",
        metrics,
        {"resumes_per_second": f">= {TARGET}", "cpu_resumes_per_second": f">= {TARGET}"},
    )


if __name__ == "__main__":
    main(sys.argv[1:])
