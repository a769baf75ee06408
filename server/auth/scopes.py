"""Roles and scopes. A scope is ``<area>:read`` or ``<area>:write``; write implies read."""

from __future__ import annotations

AREAS = ("contacts", "messages", "flows", "results", "alerts")
AREA_SCOPES = tuple(f"{area}:{mode}" for area in AREAS for mode in ("read", "write"))
GATEWAY_SCOPES = ("gateway:sync",)

ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    "admin": AREA_SCOPES,
    "operator": AREA_SCOPES,
    "api": AREA_SCOPES,
    "gateway": GATEWAY_SCOPES,
}
# Roles a long-lived token can be made for; admins and operators are people who log in.
TOKEN_ROLES = ("api", "gateway", "operator")
USER_ROLES = ("admin", "operator")


class ScopeError(ValueError):
    pass


def scopes_for(role: str, requested: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The scopes a new token gets: every scope of its role, or the requested subset of them."""
    allowed = ROLE_SCOPES.get(role)
    if allowed is None:
        raise ScopeError(f"unknown role {role!r}; use one of {', '.join(ROLE_SCOPES)}")
    if not requested:
        return allowed
    unknown = [s for s in requested if s not in allowed]
    if unknown:
        raise ScopeError(
            f"role {role!r} cannot have scope(s) {', '.join(unknown)}; it allows {', '.join(allowed)}"
        )
    return tuple(dict.fromkeys(requested))


def grants(scopes: frozenset[str], needed: str) -> bool:
    if needed in scopes:
        return True
    area, _, mode = needed.partition(":")
    return mode == "read" and f"{area}:write" in scopes
