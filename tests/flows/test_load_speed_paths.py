"""The short cuts loading takes for the common case give what the general path gives: derived uuids are
uuid5s of the joined parts, and a flow whose items are all valid and different is checked no less than one
with a repeated or malformed uuid."""

from __future__ import annotations

import uuid as uuidlib

import pytest

from flows import model as m
from flows.native import check_flow_text, derive_uuid, flow_uuid_for, group_uuid_for
from flows.native.identifiers import (
    action_uuid_for,
    case_uuid_for,
    category_uuid_for,
    exit_uuid_for,
    node_uuid_for,
)
from flows.validate import validate_flow

NAMESPACE = uuidlib.UUID("6f1d3c2a-8e5b-4f0d-9a7c-2e4b1d0f3a59")


def uuid5(*parts: str) -> str:
    return str(uuidlib.uuid5(NAMESPACE, "/".join(parts)))


@pytest.mark.parametrize("name", ["Registro", "¿Cómo estás? 🤰", "", "a/b", "paso_12"])
def test_every_derived_uuid_is_the_uuid5_of_its_joined_parts(name: str) -> None:
    owner = uuid5("flow", "X")
    assert derive_uuid("flow", name) == uuid5("flow", name)
    assert flow_uuid_for(name) == uuid5("flow", name)
    assert group_uuid_for(name) == uuid5("group", name)
    assert node_uuid_for(owner, name) == uuid5(owner, "node", name)
    assert category_uuid_for(owner, name) == uuid5(owner, "category", name)
    assert action_uuid_for(owner, 3) == uuid5(owner, "action", "3")
    assert case_uuid_for(owner, 12) == uuid5(owner, "case", "12")
    assert exit_uuid_for(owner) == uuid5(owner, "exit")


def _flow(*nodes: m.Node) -> m.Flow:
    return m.Flow(uuid=uuid5("flow", "F"), name="F", language="spa", nodes=nodes)


def test_a_repeated_item_uuid_is_still_found_among_valid_ones() -> None:
    first = m.Node(
        uuid5("a"), (m.SendMsg(uuid5("x"), "hola"),), exits=(m.Exit(uuid5("e1"), uuid5("b")),), name="a"
    )
    second = m.Node(
        uuid5("b"), (m.SendMsg(uuid5("x"), "chau"),), exits=(m.Exit(uuid5("e2"), None),), name="b"
    )
    messages = [finding.message for finding in validate_flow(_flow(first, second))]
    assert messages == [
        f"node 'b': the uuid {uuid5('x')} of a send_msg action is already used by a send_msg action of node 'a'"
    ]


def test_a_malformed_item_uuid_is_still_found_among_valid_ones() -> None:
    node = m.Node(uuid5("a"), (m.SendMsg("no-es-uuid", "hola"),), exits=(m.Exit(uuid5("e"), None),), name="a")
    messages = [finding.message for finding in validate_flow(_flow(node))]
    assert messages == ["node 'a': 'no-es-uuid', the uuid of a send_msg action, is not a uuid"]


@pytest.mark.parametrize(
    ("go", "expected"),
    [
        ('"  "', "f.yaml:4:9: where node 'a' goes is empty"),
        ("[b]", "f.yaml:4:9: where node 'a' goes should be a text, not a list"),
        ("b", "f.yaml:4:9: node 'a' goes to 'b', which does not exist"),
    ],
)
def test_a_go_that_names_no_node_is_reported_as_before(go: str, expected: str) -> None:
    flow, problems = check_flow_text(f"flow: X\nnodes:\n  a:\n    go: {go}\n", "f.yaml")
    assert flow is None
    assert [str(problem) for problem in problems] == [expected]
