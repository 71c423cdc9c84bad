"""Whether the UI tests save their screenshots for a person to look at.

Taking one costs a real render and a read-back (0.15 s a tablet screen, more for a whole
dashboard page made as tall as its content), and the suite takes some 450: off by default in
``make test``, on with ``PILOTMON_SCREENSHOTS=1`` (``make screenshots`` runs the UI tests so).
A test whose assertion is about the image itself (the screens' gallery, the PDF pages, the
enrolment QR) takes its image either way.
"""

from __future__ import annotations

import os

WANTED = os.environ.get("PILOTMON_SCREENSHOTS", "") not in ("", "0")
