"""Every refusal of an enrolment reads in the tablet's words, chosen by the answer's error code
(field_app.enrolment.REFUSALS), in the language the message is shown in: against a live
server, each refusal its route can give, on SQLite and (when configured) PostgreSQL. The
server's own English shows only for a code the tablet does not know."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter
from sqlmodel import Session, select

from field_app import APP_VERSION, enrolment, i18n
from field_app.session import EnrolError
from server.accounts.devices import issue_enrolment_code
from server.accounts.models import Device, EnrolmentCode, User
from server.columns import utcnow
from server.db import write_engine
from shared.errors import ErrorCode
from tests.factories import make_device, make_user
from tests.field_app.conftest import PASSWORD, LiveServer

# What a person reads, by code: in English and in European Portuguese (the other languages
# are checked translated by the catalogue tests; French's spaces in test_i18n).
WORDS: dict[ErrorCode, tuple[str, str]] = {
    ErrorCode.NO_TABLET: (
        "An HQ analyst's account may not have a tablet: tablets are for recording, and HQ "
        "reads on the dashboard. Enrol with a field expert's or a country officer's account",
        "Uma conta de analista da sede não pode ter tablet: os tablets servem para registar, e "
        "a sede consulta o painel. Registe o tablet com a conta de um perito de campo ou de um "
        "responsável nacional",
    ),
    ErrorCode.ACCOUNT_DISABLED: (
        "This account is deactivated: ask your country office",
        "Esta conta está desativada: fale com o seu escritório nacional",
    ),
    ErrorCode.DEVICE_TAKEN: (
        "This tablet is enrolled for another person: enrol it with their account, or ask your "
        "country office how to hand it over",
        "Este tablet está registado para outra pessoa: registe-o com a conta dessa pessoa, ou "
        "pergunte ao seu escritório nacional como o transferir",
    ),
    ErrorCode.DEVICE_REVOKED: (
        "This tablet was revoked: ask your country office for an enrolment code to enrol it again",
        "Este tablet foi revogado: peça ao seu escritório nacional um código de registo para o "
        "registar de novo",
    ),
    ErrorCode.ENROLMENT_CODE_UNKNOWN: (
        "Unknown enrolment code: check it, or ask your country office for a new one",
        "Código de registo desconhecido: verifique-o, ou peça um novo ao seu escritório nacional",
    ),
    ErrorCode.ENROLMENT_CODE_USED: (
        "This enrolment code was already used: ask your country office for a new one",
        "Este código de registo já foi usado: peça um novo ao seu escritório nacional",
    ),
    ErrorCode.ENROLMENT_CODE_EXPIRED: (
        "This enrolment code has expired: ask your country office for a new one",
        "Este código de registo expirou: peça um novo ao seu escritório nacional",
    ),
    ErrorCode.NOT_AUTHENTICATED: (
        "The server did not accept this login: enrol again",
        "O servidor não aceitou este início de sessão: registe o tablet de novo",
    ),
}


@pytest.fixture
def language() -> Iterator[None]:
    yield
    i18n.set_language("en")


def said(refused: EnrolError) -> tuple[str, str]:
    """The refusal as the tablet shows it in English, then in Portuguese (its words are chosen
    each time it is shown)."""
    i18n.set_language("en")
    english = str(refused)
    i18n.set_language("pt")
    portuguese = str(refused)
    i18n.set_language("en")
    return english, portuguese


def refused(
    server: str,
    device_id: uuid.UUID,
    *,
    code: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> EnrolError:
    with pytest.raises(EnrolError) as caught:
        enrolment.enrol(
            server=server,
            device_id=str(device_id),
            label="Tab",
            app_version=APP_VERSION,
            code=code,
            username=username,
            password=password,
        )
    return caught.value


def test_the_table_words_every_refusal_of_the_enrolment_route() -> None:
    assert set(WORDS) == set(enrolment.REFUSALS)


def test_each_refusal_of_a_live_server_in_the_tablets_words(
    live_server: LiveServer, tmp_path: Path, language: None
) -> None:
    url = live_server.url
    with Session(write_engine(live_server.engine)) as session:
        expert = session.exec(select(User).where(User.username == live_server.expert)).one()
        hq = make_user(session, role="hq_analyst")
        hq_name, hq_id = hq.username, hq.id
        # issued to an HQ analyst before they were refused tablets
        _row, hq_code = issue_enrolment_code(session, user=hq, hours=24, created_by_id=None)
        gone = make_user(session, role="field_expert")
        _row, gone_code = issue_enrolment_code(session, user=gone, hours=24, created_by_id=None)
        gone.is_active = False
        late = make_user(session, role="field_expert")
        late_row, late_code = issue_enrolment_code(session, user=late, hours=24, created_by_id=None)
        late_row.expires_at = utcnow() - timedelta(minutes=1)
        other = make_user(session, role="field_expert")
        _row, other_code = issue_enrolment_code(session, user=other, hours=24, created_by_id=None)
        revoked, _token = make_device(session, expert, revoked_at=utcnow())
        revoked_id = revoked.id
        session.add_all([gone, late_row])
        session.commit()

    taken = uuid.uuid4()
    enrolment.enrol(
        server=url,
        device_id=str(taken),
        label="Tab",
        app_version=APP_VERSION,
        code=live_server.codes[0],
    )
    cases: dict[ErrorCode, Callable[[], EnrolError]] = {
        ErrorCode.NO_TABLET: lambda: refused(
            url, uuid.uuid4(), username=hq_name, password=PASSWORD
        ),
        ErrorCode.ACCOUNT_DISABLED: lambda: refused(url, uuid.uuid4(), code=gone_code),
        ErrorCode.DEVICE_TAKEN: lambda: refused(url, taken, code=other_code),
        ErrorCode.DEVICE_REVOKED: lambda: refused(
            url, revoked_id, username=live_server.expert, password=PASSWORD
        ),
        ErrorCode.ENROLMENT_CODE_UNKNOWN: lambda: refused(url, uuid.uuid4(), code="ABCDE-FGHJK"),
        ErrorCode.ENROLMENT_CODE_USED: lambda: refused(
            url, uuid.uuid4(), code=live_server.codes[0]
        ),
        ErrorCode.ENROLMENT_CODE_EXPIRED: lambda: refused(url, uuid.uuid4(), code=late_code),
    }
    for code, refuse in cases.items():
        assert said(refuse()) == WORDS[code], code
    # A code issued to an HQ analyst earlier is refused in the same words.
    assert said(refused(url, uuid.uuid4(), code=hq_code)) == WORDS[ErrorCode.NO_TABLET]
    # Nothing was enrolled by a refusal: the HQ analyst's code is still unused.
    with Session(live_server.engine) as session:
        code_row = session.exec(select(EnrolmentCode).where(EnrolmentCode.user_id == hq_id)).one()
        assert code_row.used_at is None
        assert session.get(Device, taken) is not None


# --- answers played by hand: a login refused between two calls, unknown codes, old servers ---


class Answers(BaseAdapter):
    """A transport that answers ``POST /auth/token`` with a token and the enrolment with
    ``answer`` (status, JSON body)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__()
        self.status, self.body = status, body

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **_kwargs: Any
    ) -> requests.Response:
        response = requests.Response()
        response.request = request
        response.url = str(request.url)
        response.headers["Content-Type"] = "application/json"
        if str(request.url).endswith("/auth/token"):
            response.status_code = 200
            response._content = json.dumps({"access_token": "a-token"}).encode()
        else:
            response.status_code = self.status
            response._content = json.dumps(self.body).encode()
        return response

    def close(self) -> None:
        pass


def played(status: int, body: Any, how: dict[str, str]) -> EnrolError:
    """The refusal of an enrolment ``how`` (an enrolment code, or a username and password)
    answered ``status`` and ``body``."""
    http = requests.Session()
    http.mount("https://", Answers(status, body))
    with pytest.raises(EnrolError) as caught:
        enrolment.enrol(
            server="https://pm.example.org",
            device_id=str(uuid.uuid4()),
            label="Tab",
            app_version=APP_VERSION,
            session=http,
            code=how.get("code"),
            username=how.get("username"),
            password=how.get("password"),
        )
    return caught.value


LOGIN = {"username": "amina", "password": PASSWORD}


def test_a_login_the_enrolment_no_longer_accepts_is_said_in_words(language: None) -> None:
    # The access token just issued refused by the enrolment (logged out or expired between).
    answer = {"detail": "token expired: log in again", "code": "not_authenticated"}
    assert said(played(401, answer, LOGIN)) == WORDS[ErrorCode.NOT_AUTHENTICATED]


@pytest.mark.parametrize(
    ("status", "body", "how", "english", "portuguese"),
    [
        # a code this app knows but that no enrolment refusal gives (the app's own label, too
        # long): its general words, in the reader's language
        (
            422,
            {
                "detail": [{"field": "label", "code": "too_long", "message": "label is too long"}],
                "code": "too_long",
            },
            LOGIN,
            "The server refused to enrol this tablet: This is too long.",
            "O servidor recusou registar este tablet: É demasiado longo.",
        ),
        # a code from a newer server: its own text, whatever was given
        (
            403,
            {"detail": "tablets are paused for the audit", "code": "tablets_paused"},
            {"code": "ABCDE-FGHJK"},
            "The server refused to enrol this tablet: tablets are paused for the audit",
            "O servidor recusou registar este tablet: tablets are paused for the audit",
        ),
        # a server older than error codes refusing a code: most likely the code itself
        (
            422,
            {"detail": "no such code"},
            {"code": "ABCDE-FGHJK"},
            "This enrolment code is wrong, expired or already used: ask your country office "
            "for a new one (no such code)",
            "Este código de registo está errado, expirado ou já foi usado: peça um novo ao "
            "escritório do seu país (no such code)",
        ),
        (
            403,
            {"detail": "not for you"},
            LOGIN,
            "The server refused to enrol this tablet: not for you",
            "O servidor recusou registar este tablet: not for you",
        ),
    ],
)
def test_what_the_table_does_not_word(
    status: int,
    body: dict[str, Any],
    how: dict[str, str],
    english: str,
    portuguese: str,
    language: None,
) -> None:
    assert said(played(status, body, how)) == (english, portuguese)


@pytest.mark.parametrize("name", ["fr", "es"])
def test_every_refusal_is_worded_in_french_and_spanish_too(name: str, language: None) -> None:
    for code, (english, _portuguese) in WORDS.items():
        refusal = played(403, {"detail": "English", "code": code.value}, LOGIN)
        i18n.set_language(name)
        words = str(refusal)
        assert words and words != english and "English" not in words, (name, code)
