"""``python -m field_app``: the tablet app on this computer."""

from field_app.main import main

main()
