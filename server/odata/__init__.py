"""The OData v4 feed for Excel and Power BI (docs/odata.md)."""
