"""RapidPro routers, cases, categories and waits → the model (goflow ``flows/routers/``).

Routers reference categories and categories reference exits by uuid; a reference that points nowhere would
leave the engine with no way on, so it is refused here with its location rather than reported.
"""

from __future__ import annotations

from flows import model
from flows.rapidpro.actions import MAX_CATEGORY_NAME, MAX_RESULT_NAME, truncated
from flows.rapidpro.reader import Obj
from flows.rapidpro.state import NodeScope
from flows.routertests import KNOWN_TESTS

MAX_CATEGORIES = 100  # goflow flows/flows.go limits
MAX_CASES = 100
MAX_ARGUMENTS = 10

# Tests that take one text argument; an editor bug wrote some as several (spec 14.3.1 joins them).
SINGLE_TEXT_ARGUMENT_TESTS = frozenset(
    {
        "has_only_text",
        "has_phrase",
        "has_only_phrase",
        "has_any_word",
        "has_all_words",
        "has_beginning",
        "has_pattern",
    }
)

UNSUPPORTED_TESTS: dict[str, str] = {
    "has_state": "location tests need RapidPro's administrative boundaries",
    "has_district": "location tests need RapidPro's administrative boundaries",
    "has_ward": "location tests need RapidPro's administrative boundaries",
    "has_intent": "NLU classifier tests always fail in RapidPro too",
    "has_top_intent": "NLU classifier tests always fail in RapidPro too",
}

WAIT_HINTS = {
    "image": "an image",
    "audio": "a recording",
    "video": "a video",
    "location": "a location",
    "digits": "keypad digits",
}


def convert_router(router: Obj, exit_uuids: frozenset[str], scope: NodeScope) -> model.Router:
    kind = router.text("type")
    if kind not in {"switch", "random"}:
        router.error(f"unknown router type {kind!r} (RapidPro routers are 'switch' or 'random')", "type")
    categories = _categories(router, exit_uuids)
    category_uuids = frozenset(category.uuid for category in categories)
    result_name = router.opt_text("result_name")
    if len(result_name) > MAX_RESULT_NAME:
        scope.report("changed", "result name", f"cut to {MAX_RESULT_NAME} characters, as RapidPro does")
    wait = _wait(router, category_uuids, scope)
    if kind == "random":
        return model.Router(
            kind="random",
            categories=categories,
            result_name=truncated(result_name, MAX_RESULT_NAME) or None,
            wait=wait,
        )
    default = router.opt_text("default_category_uuid") or None
    if default is not None and default not in category_uuids:
        router.error(
            f"default category {default} is not one of the router's categories", "default_category_uuid"
        )
    return model.Router(
        kind="switch",
        categories=categories,
        operand=scope.template(router.text("operand")),
        cases=_cases(router, category_uuids, scope),
        default_category_uuid=default,
        result_name=truncated(result_name, MAX_RESULT_NAME) or None,
        wait=wait,
    )


def _categories(router: Obj, exit_uuids: frozenset[str]) -> tuple[model.Category, ...]:
    objs = router.objs("categories", required=True)
    if not objs:
        router.error("a router needs at least one category", "categories")
    if len(objs) > MAX_CATEGORIES:
        router.error(f"{len(objs)} categories; RapidPro allows at most {MAX_CATEGORIES}", "categories")
    categories = []
    for category in objs:
        exit_uuid = category.text("exit_uuid")
        if exit_uuid not in exit_uuids:
            category.error(f"exit {exit_uuid} is not one of the node's exits", "exit_uuid")
        # spec 14.0.0 names empty categories "Match"; 13.6.0 cuts names to 36 characters
        name = truncated(category.opt_text("name"), MAX_CATEGORY_NAME) or "Match"
        categories.append(model.Category(uuid=category.text("uuid"), name=name, exit_uuid=exit_uuid))
    return tuple(categories)


def _cases(router: Obj, category_uuids: frozenset[str], scope: NodeScope) -> tuple[model.Case, ...]:
    objs = router.objs("cases")
    if len(objs) > MAX_CASES:
        router.error(f"{len(objs)} cases; RapidPro allows at most {MAX_CASES}", "cases")
    cases = []
    for case in objs:
        test = case.text("type")
        arguments = case.texts("arguments")
        if len(arguments) > MAX_ARGUMENTS:
            case.error(f"{len(arguments)} arguments; RapidPro allows at most {MAX_ARGUMENTS}", "arguments")
        if test in SINGLE_TEXT_ARGUMENT_TESTS and len(arguments) > 1:
            arguments = (" ".join(arguments),)
        category = case.text("category_uuid")
        if category not in category_uuids:
            case.error(f"category {category} is not one of the router's categories", "category_uuid")
        if test not in KNOWN_TESTS:
            reason = UNSUPPORTED_TESTS.get(test, "recado does not know this router test")
            scope.report(
                "unsupported", f"test {test}", f"case {case.text('uuid')}: {reason}; the case never matches"
            )
        cases.append(
            model.Case(
                uuid=case.text("uuid"),
                test=test,
                arguments=tuple(scope.template(argument) for argument in arguments),
                category_uuid=category,
            )
        )
    return tuple(cases)


def _wait(router: Obj, category_uuids: frozenset[str], scope: NodeScope) -> model.Wait | None:
    wait = router.opt_obj("wait")
    if wait is None:
        return None
    kind = wait.text("type")
    if kind != "msg":
        scope.report(
            "unsupported", f"wait {kind}", "only waits for a message are supported; it waits for an SMS reply"
        )
    hint = wait.opt_obj("hint")
    if hint is not None:
        expected = WAIT_HINTS.get(hint.opt_text("type"), "something other than text")
        scope.report("changed", "wait hint", f"the wait expects {expected}; SMS replies are text")
    timeout = wait.opt_obj("timeout")
    if timeout is None:
        return model.Wait()
    seconds = timeout.integer("seconds")
    if seconds <= 0:
        timeout.error(f"a timeout must be a positive number of seconds, found {seconds}", "seconds")
    category = timeout.text("category_uuid")
    if category not in category_uuids:
        timeout.error(f"category {category} is not one of the router's categories", "category_uuid")
    return model.Wait(timeout=model.Timeout(seconds=seconds, category_uuid=category))
