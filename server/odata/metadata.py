"""The service document and ``$metadata`` (CSDL XML, OData v4.0) from the entity sets."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

from server.odata.entities import ENTITY_SETS, NAMESPACE

EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"


def service_document(base: str) -> dict[str, Any]:
    return {
        "@odata.context": f"{base}/$metadata",
        "value": [{"name": s.name, "kind": "EntitySet", "url": s.name} for s in ENTITY_SETS],
    }


def metadata_xml() -> str:
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<edmx:Edmx xmlns:edmx="{EDMX}" Version="4.0">',
        "<edmx:DataServices>",
        f'<Schema xmlns="{EDM}" Namespace="{NAMESPACE}">',
    ]
    for entity_set in ENTITY_SETS:
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
    for entity_set in ENTITY_SETS:
        lines.append(
            f"<EntitySet Name={quoteattr(entity_set.name)} "
            f"EntityType={quoteattr(NAMESPACE + '.' + entity_set.type_name)}/>"
        )
    lines += ["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"]
    return "\n".join(lines) + "\n"
