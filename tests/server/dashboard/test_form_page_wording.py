"""The forms pages speak to their reader: no pointer into the repository's docs folder, which
a dashboard user does not have, in any language."""

from __future__ import annotations

from fastapi.testclient import TestClient

from server.dashboard import session as cookies
from server.dashboard.i18n import LANGUAGES
from tests.server.dashboard.conftest import main_of


def test_the_forms_pages_name_no_docs_file(officer: TestClient) -> None:
    for language in LANGUAGES:
        officer.cookies.set(cookies.LANGUAGE_COOKIE, language)
        for path in ("/forms", "/forms/new"):
            response = officer.get(path)
            assert response.status_code == 200, (language, path)
            main = main_of(response.text)
            assert "XLSForm" in main or path == "/forms/new"
            assert ".md" not in main and "docs/" not in main, (language, path)
