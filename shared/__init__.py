"""Domain code shared by the server, the sync client and the tablet: catalogue, validation, schemas.

Imports nothing from ``server`` or ``field_app``; stays installable on Android.
"""
