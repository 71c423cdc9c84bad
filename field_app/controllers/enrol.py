"""The enrolment form: a server address and either a one-time code or a username and password.

Checks what can be checked before going online and turns the address into a URL.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from field_app.i18n import _

MODES = ("code", "password")
# What an enrolment code looks like (the server issues five and five characters of Crockford's
# alphabet, docs/protocol.md#enrolment): the code box's placeholder.
CODE_EXAMPLE = "GBS27-41D5X"


class AddressError(ValueError):
    """The server address cannot be a URL; the message says what to type."""


def _is_local(host: str) -> bool:
    if host in ("localhost",) or host.endswith(".local"):
        return True
    try:
        return ipaddress.ip_address(host).is_private or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_server(text: str) -> str:
    """``pilot.example.org`` -> ``https://pilot.example.org``; a private address or localhost
    without a scheme gets ``http://`` (a field office server on the local network)."""
    raw = text.strip().rstrip("/")
    if not raw:
        raise AddressError(_("Type the server address, e.g. https://pilot.example.org"))
    if " " in raw:
        raise AddressError(_("A server address has no spaces"))
    if "://" not in raw:
        host = raw.split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
        raw = ("http://" if _is_local(host) else "https://") + raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressError(_("Use an address that starts with https:// or http://"))
    try:
        parts.port  # noqa: B018
    except ValueError as exc:
        raise AddressError(_("The port after ':' must be a number, e.g. :8000")) from exc
    path = parts.path.rstrip("/")
    if path.endswith("/api/v1"):
        path = path[: -len("/api/v1")]
    return f"{parts.scheme}://{parts.netloc}{path}"


@dataclass
class EnrolForm:
    mode: str = "code"
    server: str = ""
    code: str = ""
    username: str = ""
    password: str = ""

    def errors(self) -> dict[str, str]:
        """Field -> message for what is missing or malformed, before going online."""
        errors: dict[str, str] = {}
        try:
            normalise_server(self.server)
        except AddressError as exc:
            errors["server"] = str(exc)
        if self.mode == "code":
            if not self.code.strip():
                errors["code"] = _("Type the enrolment code from your country office")
        else:
            if not self.username.strip():
                errors["username"] = _("Type your username")
            if not self.password:
                errors["password"] = _("Type your password")
        return errors

    def code_text(self) -> str:
        # Codes are read aloud or copied from a screen: spaces do not matter.
        return "".join(self.code.split())

    def take_qr(self, payload: str) -> bool:
        """Fill server and code from the dashboard's QR (``pilotmon:enrol?code=…&server=…``),
        scanned or pasted into the code box. False when the text is not such a payload."""
        text = payload.strip()
        if not text.startswith("pilotmon:enrol"):
            return False
        query = parse_qs(urlsplit(text).query)
        code = (query.get("code") or [""])[0]
        server = (query.get("server") or [""])[0]
        if not code:
            return False
        self.mode, self.code = "code", code
        if server:
            self.server = server
        return True
