"""The Pilot Monitor server: API, sync endpoints, roll-ups, dashboard and scheduled jobs."""

__version__ = "0.1.0"
