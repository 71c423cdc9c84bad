"""Tablet statuses for the fleet tests: what each tablet of the dashboard world last reported.

For Lesotho's officer the tablets that need a call come first, in this order:

    Tablet B — Leribe   silent 12 days, 3 records held for 12 days   (call, holding data)
    Tablet C — Mafeteng nothing waiting, 100 MB free, its date a year ahead
                                                                       (call: low storage, clock)
    Tablet A — Maseru   5 records and 2 photos, reported today        (holding data)
    Tablet D — Quthing  nothing waiting                                (fine)
    Old tablet          revoked (its 50 records never count)

Ethiopia has one tablet holding 7 records and 1 photo, seen only by HQ and its own officer.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import Session

from server.accounts.models import Device, DeviceStatus
from server.columns import utcnow
from tests.factories import make_user
from tests.server.dashboard.world import World

ORDER = ("Tablet B — Leribe", "Tablet C — Mafeteng", "Tablet A — Maseru", "Tablet D — Quthing")
LSO_PENDING = {"records": 8, "photos": 2, "tablets": 2}
ALL_PENDING = {"records": 15, "photos": 3, "tablets": 3}


def _status(
    device_id: uuid.UUID, *, days: float, pending: tuple[int, int], **values: object
) -> DeviceStatus:
    now = utcnow()
    mutations, uploads = pending
    fields: dict[str, object] = {
        "device_id": device_id,
        "received_at": now - timedelta(days=days),
        "pending_mutations": mutations,
        "pending_uploads": uploads,
        "pending_upload_bytes": uploads * 2_400_000,
        "oldest_pending_captured_at": now - timedelta(days=days + 1) if mutations else None,
        "records": 40,
        "photos": 12,
        "free_storage_bytes": 9_000_000_000,
        "app_version": "1.4.0",
        "language": "en",
        "last_error": None,
        "pending_since": now - timedelta(days=days) if mutations or uploads else None,
    }
    fields.update(values)
    return DeviceStatus(**fields)  # type: ignore[arg-type]


def add_fleet(session: Session, world: World) -> dict[str, Device]:
    """Adds the tablets and statuses above; returns every tablet by label (the world's own
    objects are shared between tests and stay unchanged)."""
    now = utcnow()
    tablets = dict(world.tablets)
    for label, seen_days in (("Tablet C — Mafeteng", 0.1), ("Tablet D — Quthing", 0.2)):
        device = Device(
            id=uuid.uuid4(),
            user_id=world.expert.id,
            label=label,
            app_version="1.4.0",
            token_hash=uuid.uuid4().hex,
            enrolled_at=now - timedelta(days=30),
            last_seen_at=now - timedelta(days=seen_days),
        )
        session.add(device)
        tablets[label] = device
    expert_eth = make_user(session, projects=[world.eth])
    eth = Device(
        id=uuid.uuid4(),
        user_id=expert_eth.id,
        label="Tablet E — Adama",
        app_version="1.4.0",
        token_hash=uuid.uuid4().hex,
        enrolled_at=now - timedelta(days=30),
        last_seen_at=now - timedelta(hours=3),
    )
    session.add(eth)
    tablets["Tablet E — Adama"] = eth
    session.flush()
    session.add_all(
        [
            _status(tablets["Tablet A — Maseru"].id, days=0.05, pending=(5, 2)),
            _status(
                tablets["Tablet B — Leribe"].id,
                days=12,
                pending=(3, 0),
                last_error="the server did not answer in time",
            ),
            _status(
                tablets["Tablet C — Mafeteng"].id,
                days=0.1,
                pending=(0, 0),
                free_storage_bytes=100_000_000,
                tablet_time=now + timedelta(days=365.1),
            ),
            _status(tablets["Tablet D — Quthing"].id, days=0.2, pending=(0, 0)),
            _status(tablets["Old tablet"].id, days=35, pending=(50, 9)),
            _status(eth.id, days=0.1, pending=(7, 1)),
        ]
    )
    session.flush()
    return tablets
