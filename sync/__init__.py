"""Sync protocol v1 (docs/protocol.md): message schemas, the pure merge, and the tablet's client
side.

This package runs on the tablet (python-for-android), so it imports only the standard library,
``shared``, pydantic and requests — never ``server`` or FastAPI.
"""
