"""The schema, in SQLAlchemy Core. Alembic migrations in ``migrations/versions`` create exactly this.

Internal integer keys join the tables; the ``uuid`` columns are what the API shows.
All times are UTC.
"""

from __future__ import annotations

import sqlalchemy as sa

from server.db.types import BigId, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

CONTACT_STATUSES = ("active", "stopped", "blocked")
FIELD_TYPES = ("text", "number", "date", "datetime")
MESSAGE_DIRECTIONS = ("in", "out")
# queued → leased → accepted → sent → delivered | failed | unknown; inbound messages are "received".
MESSAGE_STATUSES = ("queued", "leased", "accepted", "sent", "delivered", "failed", "unknown", "received")
# Lower sorts first when gateways lease: replies, then alerts, then bulk.
PRIORITIES = {"reply": 0, "alert": 1, "bulk": 2}
ENCODINGS = ("gsm7", "ucs2")
ROLES = ("admin", "operator", "api", "gateway")


def _enum_check(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=name)


contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.Uuid, nullable=False, unique=True),
    sa.Column("phone", sa.String(20), nullable=False, unique=True),  # E.164
    sa.Column("name", sa.String(128), nullable=True),
    sa.Column("language", sa.String(3), nullable=True),  # ISO 639-3
    sa.Column("timezone", sa.String(64), nullable=True),  # IANA; None means the programme timezone
    sa.Column("status", sa.String(8), nullable=False, server_default="active"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=True),
    _enum_check("status", CONTACT_STATUSES, "status"),
)
sa.Index("ix_contacts_name", contacts.c.name)

fields = sa.Table(
    "fields",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(36), nullable=False, unique=True),
    sa.Column("label", sa.String(64), nullable=False),
    sa.Column("value_type", sa.String(8), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    _enum_check("value_type", FIELD_TYPES, "value_type"),
)

# One row per contact and field. ``text_value`` always holds the value as shown; the typed column that
# matches the field's type holds it for comparisons and campaign scheduling.
contact_fields = sa.Table(
    "contact_fields",
    metadata,
    sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("field_id", BigId, sa.ForeignKey("fields.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("text_value", sa.String(640), nullable=False),
    sa.Column("number_value", sa.Numeric(36, 8), nullable=True),
    sa.Column("date_value", sa.Date, nullable=True),
    sa.Column("datetime_value", UTCDateTime, nullable=True),
)
sa.Index("ix_contact_fields_field_text", contact_fields.c.field_id, contact_fields.c.text_value)
sa.Index("ix_contact_fields_field_date", contact_fields.c.field_id, contact_fields.c.date_value)
sa.Index("ix_contact_fields_field_datetime", contact_fields.c.field_id, contact_fields.c.datetime_value)

groups = sa.Table(
    "groups",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.Uuid, nullable=False, unique=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("group_id", BigId, sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("added_at", UTCDateTime, nullable=False),
)
sa.Index("ix_group_members_contact", group_members.c.contact_id)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.Uuid, nullable=False, unique=True),
    sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("direction", sa.String(3), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("status", sa.String(9), nullable=False),
    sa.Column("priority", sa.SmallInteger, nullable=False, server_default="2"),
    sa.Column("segments", sa.SmallInteger, nullable=False, server_default="1"),
    sa.Column("encoding", sa.String(4), nullable=False, server_default="gsm7"),
    sa.Column("channel", sa.String(64), nullable=True),  # the gateway's channel id (a modem, a phone SIM)
    sa.Column("gateway", sa.String(64), nullable=True),  # the gateway token's name that carried it
    sa.Column("external_id", sa.String(64), nullable=True),  # inbound: the gateway's id, for dedupe
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("leased_until", UTCDateTime, nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("delivered_at", UTCDateTime, nullable=True),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("error", sa.String(255), nullable=True),
    _enum_check("direction", MESSAGE_DIRECTIONS, "direction"),
    _enum_check("status", MESSAGE_STATUSES, "status"),
    _enum_check("encoding", ENCODINGS, "encoding"),
    sa.UniqueConstraint("gateway", "external_id", name="uq_messages_gateway_external_id"),
)
sa.Index("ix_messages_contact", messages.c.contact_id, messages.c.id)
sa.Index("ix_messages_outbox", messages.c.status, messages.c.priority, messages.c.id)

message_events = sa.Table(
    "message_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("message_id", BigId, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    sa.Column("status", sa.String(9), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("detail", sa.String(255), nullable=True),
)
sa.Index("ix_message_events_message", message_events.c.message_id, message_events.c.id)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.Uuid, nullable=False, unique=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    _enum_check("role", ROLES, "role"),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("jti", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    _enum_check("role", ROLES, "role"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(80), nullable=False),  # "user:ana", "token:central", "cli"
    sa.Column("action", sa.String(64), nullable=False),  # "token.create", "contact.stop", ...
    sa.Column("target", sa.String(80), nullable=True),
    sa.Column("detail", sa.JSON, nullable=True),
)
sa.Index("ix_audit_log_at", audit_log.c.at)


# --- runtime: the loaded programme, conversations waiting, their fires, results, alerts, webhooks (0003) -----
# The runner's tables. A contact has at most one waiting session; a wait's timeout and a session's expiry are
# rows in ``fires`` (one of each kind per contact at most), consumed in the transaction that records what
# firing them did, so a crash neither loses nor doubles one.

WAIT_KINDS = ("msg", "webhook")
FIRE_KINDS = ("T", "E")  # wait timed out, session expired
ALERT_STATUSES = ("open", "acknowledged", "resolved")
WEBHOOK_STATUSES = ("pending", "running", "done")
# What the runner did with an inbound message; "inbox" ones wait for staff in the ``inbox`` table.
INBOUND_OUTCOMES = (
    "opt_out", "opt_in", "trigger", "resumed", "catch_all", "new_contact", "inbox", "ignored",
)  # fmt: skip

# An inbound message is handled once: ``handled_at`` is set in the transaction that applies what it caused.
# The partial index holds only the messages still to handle, so finding them costs nothing as history grows.
messages.append_column(sa.Column("handled_at", UTCDateTime, nullable=True))
messages.append_column(sa.Column("handled_as", sa.String(11), nullable=True))
sa.Index(
    "ix_messages_unhandled_inbound",
    messages.c.id,
    sqlite_where=sa.text("direction = 'in' AND handled_at IS NULL"),
    postgresql_where=sa.text("direction = 'in' AND handled_at IS NULL"),
)

# One row: the programme last loaded with ``recado flows load``. ``revision`` grows with every load that
# changed something, so a running server knows when to read the flows again.
programme = sa.Table(
    "programme",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("languages", sa.JSON, nullable=False),
    sa.Column("groups", sa.JSON, nullable=False),  # [{uuid, name}] as the flows refer to them
    sa.Column("triggers", sa.JSON, nullable=False),  # in the programme's order
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("loaded_at", UTCDateTime, nullable=False),
)

programme_flows = sa.Table(
    "programme_flows",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("definition", sa.Text, nullable=False),  # native YAML (flows.native.dump_flow)
    sa.Column("digest", sa.String(64), nullable=False),  # sha256 of the definition: what a reload compares
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("definition", sa.JSON, nullable=False),  # group and events, as server.programmes writes them
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("flow_uuid", sa.String(36), nullable=False),  # the flow of the waiting run
    sa.Column("node_uuid", sa.String(36), nullable=False),  # where it waits
    sa.Column("wait_kind", sa.String(7), nullable=False),
    sa.Column("nested", sa.Boolean, nullable=False),  # runs of other flows below the waiting one
    sa.Column("data", sa.JSON, nullable=False),  # flows.session.Session.as_dict()
    sa.Column("timeout_on", UTCDateTime, nullable=True),
    sa.Column("expires_on", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    _enum_check("wait_kind", WAIT_KINDS, "wait_kind"),
)
sa.Index("ix_sessions_flow", sessions.c.flow_uuid)

fires = sa.Table(
    "fires",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(1), nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("session_uuid", sa.String(36), nullable=False),
    sa.UniqueConstraint("contact_id", "kind", name="uq_fires_contact_kind"),
    _enum_check("kind", FIRE_KINDS, "kind"),
)
sa.Index("ix_fires_due", fires.c.due_at)

results = sa.Table(
    "results",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_uuid", sa.String(36), nullable=False),
    sa.Column("flow_uuid", sa.String(36), nullable=False),
    sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("node_uuid", sa.String(36), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("run_uuid", "key", name="uq_results_run_uuid_key"),  # a run's latest answer wins
)
sa.Index("ix_results_flow", results.c.flow_uuid, results.c.id)
sa.Index("ix_results_contact", results.c.contact_id)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.Uuid, nullable=False, unique=True),
    sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("flow_uuid", sa.String(36), nullable=False),
    sa.Column("node_uuid", sa.String(36), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("raised_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    _enum_check("status", ALERT_STATUSES, "status"),
)
sa.Index("ix_alerts_status", alerts.c.status, alerts.c.id)

# Calls a flow asked for, made after the commit that recorded them; the session waits for the answer.
webhook_requests = sa.Table(
    "webhook_requests",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("session_uuid", sa.String(36), nullable=False),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("priority", sa.String(5), nullable=False),  # of the messages the answer leads to
    sa.Column("status", sa.String(7), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("attempted_at", UTCDateTime, nullable=True),
    sa.Column("response_status", sa.Integer, nullable=True),
    sa.Column("done_at", UTCDateTime, nullable=True),
    _enum_check("status", WEBHOOK_STATUSES, "status"),
)
sa.Index("ix_webhook_requests_status", webhook_requests.c.status, webhook_requests.c.id)

# Inbound messages no flow took, for staff to read and answer. Why each landed there (server.runner.inbound):
# no trigger or waiting flow took it, she had opted out, or her flow was waiting for a webhook, not for her.
INBOX_REASONS = ("unmatched", "stopped", "not_expected")
inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("message_id", BigId, sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
)
sa.Index("ix_inbox_open", inbox.c.resolved_at, inbox.c.message_id)


# --- the gateway link: gateways, their channels' health, and the route that last carried each contact (0002) --

CHANNEL_KINDS = ("modem", "smsgate", "envaya", "smssync")

# A gateway is known by its token's name; a rotated token keeps the name and so the gateway.
gateways = sa.Table(
    "gateways",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),  # its last sync
)

# The latest health report of each channel (a modem, a phone's SIM) of each gateway.
gateway_channels = sa.Table(
    "gateway_channels",
    metadata,
    sa.Column("gateway", sa.String(64), sa.ForeignKey("gateways.name", ondelete="CASCADE"), primary_key=True),
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("healthy", sa.Boolean, nullable=False),
    sa.Column("signal", sa.SmallInteger, nullable=True),  # 0-31, as AT+CSQ reports it
    sa.Column("battery", sa.SmallInteger, nullable=True),  # percent; phones only
    sa.Column("sent_today", sa.Integer, nullable=False),  # SMS parts
    sa.Column("daily_cap", sa.Integer, nullable=True),  # SMS parts
    sa.Column("queue", sa.Integer, nullable=False),  # messages waiting in the gateway for this channel
    sa.Column("operator", sa.String(64), nullable=True),
    sa.Column("detail", sa.String(255), nullable=True),  # the gateway's own words: last error, registration
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    _enum_check("kind", CHANNEL_KINDS, "kind"),
)

# The gateway and channel that last carried a contact (her last inbound, or her last delivered outbound):
# her messages go back the same way while that gateway is healthy, so she keeps hearing from one number.
contact_routes = sa.Table(
    "contact_routes",
    metadata,
    sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("gateway", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(64), nullable=True),
    sa.Column("at", UTCDateTime, nullable=False),
)

# Queued messages past their expiry are failed at each sync; this finds them without reading the outbox.
sa.Index("ix_messages_expiry", messages.c.status, messages.c.expires_at)


# --- campaigns: each contact's next due campaign event, and what each fire did (0004) -------------------------
# One row per contact per campaign, however many events the campaign has (DESIGN decision 5): the next event
# due and when. Firing it records the outcome and moves the row on to the event after, in one transaction.
# The row is stored in its primary key's order (SQLite WITHOUT ROWID), so the million rows of a large
# programme cost no second copy of the key.

CAMPAIGN_OUTCOMES = ("fired", "skipped", "busy", "inactive", "unsendable", "no_flow")

campaign_fires = sa.Table(
    "campaign_fires",
    metadata,
    sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("event_uuid", sa.String(36), nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sqlite_with_rowid=False,
)
sa.Index("ix_campaign_fires_due", campaign_fires.c.campaign_id, campaign_fires.c.due_at)

# What became of each fire: sent (a message queued or a flow started) or why not. Campaign and event are kept
# by uuid, so the history outlives a campaign removed from the programme; a deleted contact takes hers along.
campaign_log = sa.Table(
    "campaign_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("campaign_uuid", sa.String(36), nullable=False),
    sa.Column("event_uuid", sa.String(36), nullable=False),
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    _enum_check("outcome", CAMPAIGN_OUTCOMES, "outcome"),
)
sa.Index("ix_campaign_log_contact", campaign_log.c.contact_id, campaign_log.c.id)


# --- alerts, clinic ratings, outgoing event webhooks (0005) ---------------------------------------------------
# An alert records the inbound message that raised it and the clinic it belongs to (the contact's ``clinica``
# field when it was raised), who acknowledged and resolved it, and when its clinic's staff were texted: the
# texts are queued by the dispatcher after the runner's commit, so ``notified_at`` is NULL until then.

alerts.append_column(
    sa.Column("message_id", BigId, sa.ForeignKey("messages.id", ondelete="SET NULL"), nullable=True)
)
alerts.append_column(sa.Column("clinic", sa.Text, nullable=True))
alerts.append_column(sa.Column("clinic_key", sa.String(128), nullable=True))  # lower-case, no accents
alerts.append_column(sa.Column("notified_at", UTCDateTime, nullable=True))
alerts.append_column(sa.Column("staff_texted", sa.SmallInteger, nullable=True))
alerts.append_column(sa.Column("acknowledged_at", UTCDateTime, nullable=True))
alerts.append_column(sa.Column("acknowledged_by", sa.String(80), nullable=True))
alerts.append_column(sa.Column("resolved_at", UTCDateTime, nullable=True))
alerts.append_column(sa.Column("resolved_by", sa.String(80), nullable=True))
alerts.append_column(sa.Column("resolution", sa.Text, nullable=True))
sa.Index("ix_alerts_clinic", alerts.c.clinic_key, alerts.c.id)
sa.Index(
    "ix_alerts_unnotified",
    alerts.c.id,
    sqlite_where=sa.text("notified_at IS NULL"),
    postgresql_where=sa.text("notified_at IS NULL"),
)

# Anonymous answers, counted: one row per week, clinic, question and answer, with how many times it was given. No
# contact, run, message or exact time, and no insertion order either: the key is the row's only order
# (SQLite WITHOUT ROWID), so a row cannot be matched to the moment an answer came in.
clinic_ratings = sa.Table(
    "clinic_ratings",
    metadata,
    sa.Column("week", sa.String(8), primary_key=True),  # ISO week, "2027-W09"
    sa.Column("clinic", sa.String(128), primary_key=True),
    sa.Column("question", sa.String(64), primary_key=True),  # the result key
    sa.Column("answer_digest", sa.String(64), primary_key=True),  # sha256 of the answer: a short key
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("times", sa.Integer, nullable=False),
    sqlite_with_rowid=False,
)

# Events for the configured receivers: written in the transaction that caused them, fanned out to one
# delivery per receiver by the dispatcher. Message events are read from ``message_events`` instead, after
# ``webhook_cursors``' position for them.
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.Uuid, nullable=False, unique=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_uuid", sa.Uuid, nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the exact bytes signed and sent, as UTF-8
    sa.Column("attempts", sa.SmallInteger, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),  # also the lease of an attempt in flight
    sa.Column("last_status", sa.Integer, nullable=True),  # HTTP status; NULL when no answer came
    sa.Column("last_error", sa.String(255), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("event_uuid", "url", name="uq_webhook_deliveries_event_uuid_url"),
)
sa.Index("ix_webhook_deliveries_due", webhook_deliveries.c.next_attempt_at)

# Deliveries that failed their last try, for an admin to look at and replay by hand.
webhook_dead_letters = sa.Table(
    "webhook_dead_letters",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_uuid", sa.Uuid, nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("attempts", sa.SmallInteger, nullable=False),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.String(255), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("failed_at", UTCDateTime, nullable=False),
)

webhook_cursors = sa.Table(
    "webhook_cursors",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("last_id", BigId, nullable=False),
)


# --- flow anonymity and who resolved an inbox item (0006) -----------------------------------------------------
# A flow's answers are anonymous when the flow says so (``anonymous: true`` in its file): the load copies the
# flag here, where the runner's transaction reads it for each result (see server.ratings).
programme_flows.append_column(sa.Column("anonymous", sa.Boolean, nullable=False, server_default=sa.false()))
# "user:<name>" or "token:<name>", as the audit log names them; NULL while the item is open.
inbox.append_column(sa.Column("resolved_by", sa.String(80), nullable=True))
# One contact's items (GET /api/v1/inbox?contact=), and deleting a contact without reading the whole inbox.
sa.Index("ix_inbox_contact", inbox.c.contact_id, inbox.c.message_id)
