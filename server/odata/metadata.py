"""The service document and ``$metadata`` (CSDL XML, OData v4.0) from the entity sets a caller
sees: the fixed ones and the forms' (``server.odata.observations``), so both are made per
request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

from server.odata.entities import NAMESPACE, EntitySet

EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"


def service_document(base: str, entity_sets: Sequence[EntitySet]) -> dict[str, Any]:
    return {
        "@odata.context": f"{base}/$metadata",
        "value": [{"name": s.name, "kind": "EntitySet", "url": s.name} for s in entity_sets],
    }


def metadata_xml(entity_sets: Sequence[EntitySet]) -> str:
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<edmx:Edmx xmlns:edmx="{EDMX}" Version="4.0">',
        "<edmx:DataServices>",
        f'<Schema xmlns="{EDM}" Namespace="{NAMESPACE}">',
    ]
    for entity_set in entity_sets:
        lines.append(f"<EntityType Name={quoteattr(entity_set.type_name)}>")
        lines.append("<Key>")
        lines += [f"<PropertyRef Name={quoteattr(k)}/>" for k in entity_set.key]
        lines.append("</Key>")
        for prop in entity_set.properties:
            nullable = "" if prop.nullable else ' Nullable="false"'
            lines.append(
                f"<Property Name={quoteattr(prop.name)} Type={quoteattr(prop.edm)}{nullable}/>"
            )
        lines.append("</EntityType>")
    lines.append(f'<EntityContainer Name="{NAMESPACE}Service">')
    for entity_set in entity_sets:
        lines.append(
            f"<EntitySet Name={quoteattr(entity_set.name)} "
            f"EntityType={quoteattr(NAMESPACE + '.' + entity_set.type_name)}/>"
        )
    lines += ["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"]
    return "\n".join(lines) + "\n"
