"""The one way a session stops for good in the middle of a step."""

from __future__ import annotations


class Failure(Exception):
    """The session cannot go on (a loop, a flow that is not there); it ends as failed with this text."""

    def __init__(self, text: str, flow_uuid: str = "", node_uuid: str = "") -> None:
        super().__init__(text)
        self.text = text
        self.flow_uuid = flow_uuid
        self.node_uuid = node_uuid
