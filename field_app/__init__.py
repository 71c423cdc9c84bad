"""The Pilot Monitor tablet app (Kivy): offline capture of activities, synced with protocol v1.

Runs on Android through python-for-android and on a computer through ``pilotmon field``. It
imports Kivy, plyer, requests, ``sync`` and ``shared`` — never ``server`` or FastAPI.
"""

APP_VERSION = "0.1.0"
