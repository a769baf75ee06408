"""The uuids a native flow file may leave out, derived so that loading the same file twice gives the same model.

Each is a uuid5 in recado's namespace of its owner and its name or position: a flow by its name, a node by its
flow and name, an action or a case by its node and index, a category by its node and name, an exit by the node
or category it leaves from. Editing a message therefore changes no uuid, and contacts waiting at a node stay
where they are.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Final

from flows.model import Flow

# Everything derived hangs off this namespace, so recado's uuids never collide with another system's uuid5s.
_NAMESPACE: Final = bytes.fromhex("6f1d3c2a8e5b4f0d9a7c2e4b1d0f3a59")
# The version nibble is 5; the variant's top two bits are 10, so its hex digit is one of 8, 9, a, b.
_VARIANT: Final = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
# Hashing starts from the namespace already fed in: copying that state is cheaper than hashing it again.
_NAMESPACE_SHA1: Final = hashlib.sha1(_NAMESPACE, usedforsecurity=False)
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def derive_uuid(*parts: str) -> str:
    """A uuid5 in recado's namespace for the joined parts, as ``uuid.uuid5`` computes it but straight from the
    hex digest: loading 700 flows derives tens of thousands of these."""
    return _uuid_of("/".join(parts))


def _uuid_of(joined: str) -> str:
    """``derive_uuid`` of parts already joined with "/": the helpers below join their two or three parts in one
    f-string, cheaper than packing them for ``derive_uuid`` to join."""
    sha1 = _NAMESPACE_SHA1.copy()
    sha1.update(joined.encode())
    h = sha1.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def flow_uuid_for(name: str) -> str:
    return _uuid_of(f"flow/{name}")


def group_uuid_for(name: str) -> str:
    return _uuid_of(f"group/{name}")


def node_uuid_for(flow_uuid: str, name: str) -> str:
    return _uuid_of(f"{flow_uuid}/node/{name}")


def action_uuid_for(node_uuid: str, index: int) -> str:
    return _uuid_of(f"{node_uuid}/action/{index}")


def case_uuid_for(node_uuid: str, index: int) -> str:
    return _uuid_of(f"{node_uuid}/case/{index}")


def category_uuid_for(node_uuid: str, name: str) -> str:
    return _uuid_of(f"{node_uuid}/category/{name}")


def exit_uuid_for(owner_uuid: str) -> str:
    """A node's single exit (no router) or a category's exit."""
    return _uuid_of(f"{owner_uuid}/exit")


def is_uuid(text: str) -> bool:
    return _UUID.fullmatch(text) is not None


def iter_uuids(flow: Flow) -> Iterator[str]:
    """Every uuid a flow defines (for tools that check identities across flows)."""
    yield flow.uuid
    for node in flow.nodes:
        yield node.uuid
        for action in node.actions:
            yield action.uuid
        if node.router is not None:
            yield from (case.uuid for case in node.router.cases)
            yield from (category.uuid for category in node.router.categories)
        yield from (exit_.uuid for exit_ in node.exits)
