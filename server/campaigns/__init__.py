"""Campaigns at run time: each contact's next due event kept in one row per campaign (``schedule``), and the
tick that fires what is due (``firing``): messages queued in batches, flows started through the runner.

Nothing is imported here, so that the runner can import the scheduling hooks without importing the firing,
which itself uses the runner.
"""
