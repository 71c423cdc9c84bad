"""A bad setting is one line naming its environment variable, the value given and what it may
be (docs/cli.md#configuration), exit code 2; a secret's value is never repeated."""

from __future__ import annotations

import os

import pytest

from tests.server.in_process import run_in_process


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], **env: str) -> str:
    monkeypatch.chdir(os.path.dirname(__file__))  # no .env here
    code, _, err = run_in_process(monkeypatch, capsys, "jobs", "list", **env)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("env", "line"),
    [
        # It said "configuration: log_level: Input should be 'DEBUG', …": a field, not a variable.
        (
            {"PILOTMON_LOG_LEVEL": "bogus"},
            "PILOTMON_LOG_LEVEL is 'bogus': use one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
        (
            {"PILOTMON_ENROLMENT_CODE_HOURS": "0"},
            "PILOTMON_ENROLMENT_CODE_HOURS is '0': use a whole number from 1 to 168",
        ),
        (
            {"PILOTMON_MAX_PUSH_MUTATIONS": "many"},
            "PILOTMON_MAX_PUSH_MUTATIONS is 'many': use a whole number at least 1",
        ),
        (
            {"PILOTMON_BODY_IDLE_TIMEOUT_SECONDS": "0"},
            "PILOTMON_BODY_IDLE_TIMEOUT_SECONDS is '0': use a number above 0 and at most 3600",
        ),
        ({"PILOTMON_API_DOCS": "maybe"}, "PILOTMON_API_DOCS is 'maybe': use true or false"),
        (
            {"PILOTMON_ENVIRONMENT": "prod"},
            "PILOTMON_ENVIRONMENT is 'prod': use one of development, test, production",
        ),
        (
            {"PILOTMON_LOG_LEVEL": "loud", "PILOTMON_API_DOCS": "maybe"},
            "PILOTMON_LOG_LEVEL is 'loud': use one of DEBUG, INFO, WARNING, ERROR, CRITICAL "
            "(also wrong: PILOTMON_API_DOCS)",
        ),
    ],
)
def test_a_bad_setting_names_its_variable_and_what_it_may_be(
    env: dict[str, str],
    line: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run(monkeypatch, capsys, **env) == f"pilotmon: configuration: {line}"


def test_a_secret_is_never_repeated(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _run(
        monkeypatch,
        capsys,
        PILOTMON_ENVIRONMENT="production",
        PILOTMON_SECRET_KEY="hunter2-is-too-short",
    )
    assert (
        line == "pilotmon: configuration: PILOTMON_SECRET_KEY must be at least 32 characters long"
    )
