"""Custody receipts: which record versions the server holds completely, issued where a push
applies a record and where a photo's last bytes are verified (docs/protocol.md#custody-receipts),
and ``pilotmon receipts`` (``server.receipts.cli``)."""
