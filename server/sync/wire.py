"""Records as they travel to and from tablets (docs/product.md#domain names, JSON types).

Activities have theirs in ``server.activities.service``; the other synced records are here, with
the catalogue a tablet receives on its first pull.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import date
from functools import lru_cache
from typing import Any

from server.activities.models import Attachment
from server.projects.models import Participant, Project, Target
from server.sync.models import SyncConflict
from shared import catalogue
from shared.indicators import INDICATORS


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def project_wire(project: Project) -> dict[str, Any]:
    return {
        "id": str(project.id),
        "code": project.code,
        "name": project.name,
        "kind": project.kind,
        "country": project.country,
        "thematic_area": project.thematic_area,
        "solutions": list(project.solutions or []),
        "partners": list(project.partners or []),
        "priority_product": project.priority_product,
        "start_date": _day(project.start_date),
        "end_date": _day(project.end_date),
        "roster": project.roster,
    }


def target_wire(target: Target) -> dict[str, Any]:
    return {
        "id": str(target.id),
        "project_id": str(target.project_id),
        "indicator": target.indicator,
        "period": target.period,
        "value": target.value,
        "sex": target.sex,
    }


def participant_wire(participant: Participant) -> dict[str, Any]:
    return {
        "id": str(participant.id),
        "project_id": str(participant.project_id),
        "code": participant.code,
        "name": participant.name,
        "sex": participant.sex,
        "birth_year": participant.birth_year,
        "category": participant.category,
        "disability": participant.disability,
        "deleted": participant.deleted,
    }


def attachment_wire(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": str(attachment.id),
        "activity_id": str(attachment.activity_id) if attachment.activity_id else None,
        "observation_id": str(attachment.observation_id) if attachment.observation_id else None,
        "sha256": attachment.sha256,
        "size": attachment.size,
        "content_type": attachment.content_type,
        "caption": attachment.caption,
        "complete": attachment.complete,
        "deleted": attachment.deleted,
    }


def conflict_wire(conflict: SyncConflict) -> dict[str, Any]:
    return {
        "id": str(conflict.id),
        "entity": conflict.entity,
        "entity_id": str(conflict.entity_id),
        "project_id": str(conflict.project_id) if conflict.project_id else None,
        "device_id": str(conflict.device_id) if conflict.device_id else None,
        "fields": list(conflict.fields or []),
        "base_values": conflict.base_values,
        "server_values": conflict.server_values,
        "device_values": conflict.device_values,
        "status": conflict.status,
        "resolution": conflict.resolution,
        "created_at": conflict.created_at.isoformat() if conflict.created_at else None,
        "resolved_at": conflict.resolved_at.isoformat() if conflict.resolved_at else None,
    }


@lru_cache(maxsize=1)
def catalogue_wire() -> dict[str, Any]:
    """The reference data a tablet needs offline: vocabularies, solutions, topics, indicators."""
    return {
        "thematic_areas": [asdict(t) for t in catalogue.THEMATIC_AREAS.values()],
        "solutions": [
            {
                "code": s.code,
                "name": s.name,
                "thematic_area": s.thematic_area,
                "modalities": [str(m) for m in s.modalities],
            }
            for s in catalogue.SOLUTIONS.values()
        ],
        "topics": [asdict(t) for t in catalogue.TOPICS.values()],
        "vocabularies": {
            "modality": catalogue.codes(catalogue.Modality),
            "level": catalogue.codes(catalogue.Level),
            "project_kind": catalogue.codes(catalogue.ProjectKind),
            "activity_type": catalogue.codes(catalogue.ActivityType),
            "delivery": catalogue.codes(catalogue.Delivery),
            "value_chain_stage": catalogue.codes(catalogue.ValueChainStage),
            "participant_category": catalogue.codes(catalogue.ParticipantCategory),
            "sex": catalogue.codes(catalogue.Sex),
            "age_band": catalogue.codes(catalogue.AgeBand),
            "activity_status": catalogue.codes(catalogue.ActivityStatus),
        },
        "indicators": [
            {"code": i.code, "name": i.name, "description": i.description, "unit": i.unit}
            for i in INDICATORS.values()
        ],
    }


@lru_cache(maxsize=1)
def catalogue_digest() -> str:
    """Changes whenever the catalogue does, so tablets get it again after an upgrade."""
    text = json.dumps(catalogue_wire(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
