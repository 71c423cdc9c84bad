"""Stale tablets: enrolled, not revoked, and silent for N days, listed per country.

A tablet belongs to the countries of its user. One that never synced counts from its
enrolment; the longest silent come first. Used by the scheduled job (all countries) and by
the API (the caller's scope).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from server.accounts.auth import Caller
from server.accounts.models import Device, User
from server.columns import utcnow
from server.scope import device_scope


def stale_tablets(
    session: Session, *, days: int, caller: Caller | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """``{"days", "as_of", "countries": [{"country", "devices": [...]}]}`` (countries sorted)."""
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    statement = (
        select(Device, User)
        .join(User, col(User.id) == Device.user_id)
        .where(
            col(Device.revoked_at).is_(None),
            or_(
                col(Device.last_seen_at) < cutoff,
                and_(col(Device.last_seen_at).is_(None), col(Device.enrolled_at) < cutoff),
            ),
        )
    )
    if caller is not None:
        statement = statement.where(device_scope(caller))
    per_country: dict[str | None, list[dict[str, Any]]] = {}
    for device, user in session.exec(statement):
        seen = device.last_seen_at
        since = seen or device.enrolled_at
        assert since is not None
        entry = {
            "id": str(device.id),
            "label": device.label,
            "user": user.username,
            "app_version": device.app_version,
            "enrolled_at": device.enrolled_at.isoformat(),
            "last_seen_at": seen.isoformat() if seen else None,
            "days_silent": (now - since).days,
        }
        countries: list[str | None] = list(user.countries or []) or [None]
        for country in countries:
            if (
                caller is not None
                and caller.role == "country_officer"
                and country not in caller.countries
            ):
                continue
            per_country.setdefault(country, []).append(entry)
    for devices in per_country.values():
        devices.sort(key=lambda d: (-d["days_silent"], d["label"], d["id"]))  # longest first
    return {
        "days": days,
        "as_of": now.isoformat(),
        "countries": [
            {"country": c, "devices": per_country[c]}
            for c in sorted(per_country, key=lambda c: (c is None, c or ""))
        ],
    }
