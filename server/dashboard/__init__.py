"""The country-office dashboard: server-rendered pages over the same accounts, scope and
services as the API (mounted at "/", the API stays under /api/v1)."""
