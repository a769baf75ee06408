"""The runner: turns what happens to a contact (a message arrives, a wait times out, a session expires, a
webhook answers) into an engine step, and applies the step's events in one database transaction.

One contact is handled at a time (``locks``), every effect of a step commits together with whatever marks
its cause as done (the inbound message handled, the fire consumed, the webhook answered), and what must wait
for the commit (waking the gateways, making webhook calls) happens after it.
"""

from server.runner.runner import Runner

__all__ = ["Runner"]
