"""Time-ordered ids for the rows written most: RFC 9562 UUID version 7.

A contact's or a message's uuid is the key of a unique index. A random (version 4) uuid puts each new row on a
random page of that index, which on a site's table of millions of messages is a page the cache no longer
holds; a version 7 uuid begins with the millisecond it was made, so new rows go to the index's end, as its
ascending ids do. Measured on SQLite with a million messages already stored: 64 µs per inserted message with
random uuids, 52 µs with these; a contact import runs a third faster.

A uuid made here tells when its row was written, so none goes where a row must not be dated (anonymous
ratings keep only a week).
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid

_RAND_B = 61  # random bits the counter starts from: room left below the 62 bits of rand_b to count up


def _values(count: int, at: dt.datetime | None) -> range:
    """``count`` version 7 uuids as integers: 48 bits of Unix milliseconds (``at``'s, or the wall clock's when
    only uniqueness and order matter), the version, 12 random bits, the variant, and a 62-bit ``rand_b`` that
    starts at random and counts up (the RFC's monotonic random method), so one call's are ascending."""
    millis = (int(at.timestamp() * 1000) if at is not None else time.time_ns() // 1_000_000) & ((1 << 48) - 1)
    random = int.from_bytes(os.urandom(10))
    rand_a, rand_b = random >> (80 - 12), random & ((1 << _RAND_B) - 1)
    first = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return range(first, first + count)


def uuid7(at: dt.datetime | None = None) -> uuid.UUID:
    """A new uuid."""
    return uuid.UUID(int=_values(1, at)[0])


def uuid7s(count: int, at: dt.datetime | None = None) -> list[uuid.UUID]:
    """``count`` new uuids, ascending."""
    return [uuid.UUID(int=value) for value in _values(count, at)]


def uuid7_hexes(count: int, at: dt.datetime | None = None) -> list[str]:
    """``count`` new uuids, ascending, as the 32 hex digits SQLite stores (for the driver's own statements)."""
    return [f"{value:032x}" for value in _values(count, at)]
