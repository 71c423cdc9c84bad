"""The demo world: a realistic, seeded set of projects, sites, targets, users and activities.

``world`` draws it as plain data (no database); ``load`` writes it; ``cli`` is ``pilotmon demo``.
"""
