"""The record layer: the write infrastructure every domain shares.

``changes`` — the change log behind pull cursors (appended last before COMMIT); ``audit`` — the
audit trail every writer of users, projects, reviews and devices appends to;
``bulk`` — many-row inserts at driver speed; ``models`` — the change log and the audit trail.
It imports only server infrastructure (``server.db``, ``server.columns``), never a domain, so
every domain may import it (docs/architecture.md).
"""
