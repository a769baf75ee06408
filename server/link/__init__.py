"""The server side of the gateway link: one batched, idempotent, long-polled round trip per sync.

A gateway hands over what its radios received and what became of the messages it was given, reports the
health of its channels, and takes the next messages to send. ``docs/gateway-link.md`` is the protocol; this
package is its implementation, and the database is the only hand-off to the rest of the server.
"""
