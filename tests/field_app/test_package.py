"""What python-for-android will package: field_app imports no server code, no FastAPI, no
SQLAlchemy; the server's CLI runs without Kivy; the buildozer spec lists what the app imports."""

from __future__ import annotations

import ast
import configparser
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from field_app.cli import field
from field_app.device import Device, StandInDevice, detect, parse_stand_in
from field_app.session import LocalSettings

PACKAGE = Path(__file__).resolve().parents[2] / "field_app"
FORBIDDEN = (
    "server",
    "fastapi",
    "uvicorn",
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "starlette",
    "psycopg",
)


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_field_app_never_imports_the_server(path: Path) -> None:
    modules = imported_modules(path)
    if path.name == "catalogues.py":  # a developer tool, not packaged for the tablet's use
        modules.discard("babel")
    assert not modules & set(FORBIDDEN), f"{path} imports {modules & set(FORBIDDEN)}"


def test_the_app_and_what_it_pulls_in_load_without_server_packages() -> None:
    code = (
        "import sys\n"
        "import field_app.backend, field_app.session, field_app.controllers.form\n"
        "import field_app.enrolment, field_app.photos, field_app.cli\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(bad)\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_server_cli_does_not_import_kivy() -> None:
    code = (
        "import sys, click, server.cli\n"
        "group = server.cli.cli\n"
        "context = click.Context(group)\n"
        "assert all(group.get_command(context, n) for n in group.list_commands(context))\n"
        "assert not any(m == 'kivy' or m.startswith('kivy.') for m in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_pilotmon_field_is_registered_and_checks_the_address() -> None:
    from server.cli import main

    assert main(["field", "--help"]) == 0
    result = CliRunner().invoke(field, ["--server", "not a url"])
    assert result.exit_code == 2 and "has no spaces" in result.output


# Requirements python-for-android provides from its own recipes, with no pip package behind them
# (or none in requirements.lock): the interpreter, C libraries, Android glue, the app itself.
RECIPE_ONLY = frozenset(
    {"python3", "sqlite3", "openssl", "pyjnius", "android", "pilotmon", "libwebp"}
)
# What p4a's pydantic-core recipe builds: pydantic must be a release that imports with it.
PYDANTIC_CORE_RECIPE = "2.41.4"
# Compiled packages python-for-android builds from its own recipes, at the version each recipe
# builds (pythonforandroid/recipes/<name>/__init__.py, master of 2026-05-21): the tablet pins
# exactly these. pydantic-core's is also the lock's; cryptography's and cffi's are older than
# the lock's (the desktop and server keep security releases), so test_android_build runs the
# app, and verifies a receipt, with exactly these versions.
RECIPE_VERSIONS = {"pydantic-core": PYDANTIC_CORE_RECIPE, "cryptography": "46.0.3", "cffi": "2.0.0"}
# Third-party modules the shipped app imports -> their distributions.
IMPORTED_DISTRIBUTIONS = {
    "kivy": "kivy",
    "plyer": "plyer",
    "requests": "requests",
    "urllib3": "urllib3",
    "pydantic": "pydantic",
    "PIL": "pillow",
    "cryptography": "cryptography",
    "jnius": "pyjnius",
    "android": "android",
}
ROOT = PACKAGE.parent


def buildozer_requirements() -> dict[str, str | None]:
    """buildozer.spec's requirements: name (lower case) -> pinned version (None: unpinned)."""
    spec = configparser.ConfigParser()
    spec.read(PACKAGE / "buildozer.spec")
    found: dict[str, str | None] = {}
    for item in spec["app"]["requirements"].split(","):
        name, _, version = item.strip().partition("==")
        found[name.strip().lower()] = version.strip() or None
    return found


def locked_versions() -> dict[str, str]:
    """requirements.lock: name (lower case) -> version."""
    found = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith((" ", "#")) and "==" in line:
            name, _, rest = line.partition("==")
            found[name.strip().lower()] = rest.split()[0].split(";")[0]
    return found


def test_buildozer_spec_lists_the_runtime_requirements() -> None:
    requirements = set(buildozer_requirements())
    assert {
        "python3",
        "kivy",
        "plyer",
        "requests",
        "urllib3",
        "certifi",
        "idna",
        "charset-normalizer",
        "pydantic",
        "pydantic-core",
        "typing-inspection",
        "annotated-types",
        "typing-extensions",
        "pillow",
        "sqlite3",
        "cryptography",
        "cffi",
        "openssl",
        # python-for-android's Pillow decodes WebP only when its libwebp recipe is built too
        # (Pillow's recipe lists it in opt_depends): the photo chooser offers WebP photos.
        "libwebp",
    } <= requirements
    assert not requirements & set(FORBIDDEN)
    spec = configparser.ConfigParser()
    spec.read(PACKAGE / "buildozer.spec")
    permissions = {p.strip() for p in spec["app"]["android.permissions"].split(",")}
    assert {"CAMERA", "ACCESS_FINE_LOCATION", "INTERNET"} <= permissions


def test_every_pip_requirement_of_the_tablet_is_pinned_to_the_locked_version() -> None:
    """python-for-android installs them with ``pip --no-deps``: an unpinned pydantic got 2.14
    (needs a newer pydantic-core than p4a builds) or, resolved by p4a, 1.10. Desktop and
    tablet must run the same versions."""
    requirements = buildozer_requirements()
    locked = locked_versions()
    unpinned = sorted(n for n, v in requirements.items() if v is None and n not in RECIPE_ONLY)
    assert unpinned == [], f"pin these in field_app/buildozer.spec: {unpinned}"
    differ = {
        name: (version, locked[name])
        for name, version in requirements.items()
        if name in locked and version != locked[name] and name not in RECIPE_VERSIONS
    }
    assert differ == {}, f"buildozer.spec and requirements.lock differ: {differ}"
    recipes = {name: requirements.get(name) for name in RECIPE_VERSIONS}
    assert recipes == RECIPE_VERSIONS, "pin what python-for-android's recipes build"
    assert set(RECIPE_VERSIONS) <= set(locked)  # the desktop runs the same packages
    pydantic = tuple(int(n) for n in str(requirements["pydantic"]).split("."))
    assert (2, 12, 2) <= pydantic <= (2, 12, 3)


def test_what_the_shipped_app_imports_and_what_that_needs_is_listed() -> None:
    """Every third-party module the shipped code imports is a requirement, and so is every
    dependency of those (pip --no-deps installs nothing on its own). Kivy is built by its
    recipe, which brings its own few."""
    from importlib import metadata

    from packaging.requirements import Requirement

    requirements = set(buildozer_requirements())
    leave_out = {"catalogues.py", "cli.py"}
    imported: set[str] = set()
    for package in ("field_app", "sync", "shared"):
        for path in (ROOT / package).rglob("*.py"):
            if "android" in path.relative_to(ROOT).parts or path.name in leave_out:
                continue
            imported |= imported_modules(path)
    third_party = sorted(m for m in imported if m in IMPORTED_DISTRIBUTIONS)
    missing = [IMPORTED_DISTRIBUTIONS[m] for m in third_party]
    assert set(missing) <= requirements, sorted(set(missing) - requirements)
    needed: set[str] = set()
    for name in requirements - RECIPE_ONLY - {"kivy"}:
        for text in metadata.requires(name) or ():
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                needed.add(requirement.name.lower().replace("_", "-"))
    assert needed <= requirements, f"also needed on the tablet: {sorted(needed - requirements)}"


def test_settings_survive_a_restart_and_ignore_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "field_settings.json"
    LocalSettings(language="pt", server_url="https://x.org", device_label="tab 1").save(path)
    assert LocalSettings.load(path) == LocalSettings("pt", "https://x.org", "tab 1")
    path.write_text("{not json", encoding="utf-8")
    assert LocalSettings.load(path) == LocalSettings()
    path.write_text('{"language": "klingon"}', encoding="utf-8")
    assert LocalSettings.load(path).language == "en"


def test_device_facade_on_a_computer(monkeypatch: pytest.MonkeyPatch) -> None:
    from field_app.device import DeviceUnavailable

    monkeypatch.delenv("PILOTMON_FIELD_GPS", raising=False)
    device = detect()
    assert type(device) is Device and not device.has_gps() and not device.has_camera()
    with pytest.raises(DeviceUnavailable, match="type the coordinates"):
        device.start_gps(lambda fix: None, lambda status: None)
    with pytest.raises(DeviceUnavailable, match="choose a photo file"):
        device.take_photo(Path("x.jpg"), lambda path: None)
    assert set(device.facts()) == {"platform", "machine", "python"}
    monkeypatch.setenv("PILOTMON_FIELD_GPS", "-29.31, 27.48, 8")
    stand_in = detect()
    assert isinstance(stand_in, StandInDevice) and stand_in.has_gps()
    fixes: list[object] = []
    stand_in.start_gps(fixes.append, lambda status: None)
    assert fixes == [parse_stand_in("-29.31,27.48,8")]
    with pytest.raises(ValueError, match="lat,lon"):
        parse_stand_in("1,2,3,4")


def test_kivys_cut_buffer_traceback_wall_becomes_one_plain_line() -> None:
    """On a Linux computer without xclip/xsel, Kivy logs a critical error with tracebacks the
    first time a text box appears; the app shows one warning instead, and nothing else."""
    import logging

    from field_app.main import _NoCutBufferWall

    wall = logging.LogRecord(
        "kivy",
        logging.CRITICAL,
        __file__,
        1,
        "Cutbuffer: Unable to find any valuable Cutbuffer provider. …\n"
        "xclip - FileNotFoundError: …\n  File …",
        None,
        None,
    )
    other = logging.LogRecord(
        "kivy",
        logging.CRITICAL,
        __file__,
        1,
        "Window: Unable to find any valuable Window provider.",
        None,
        None,
    )
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    logging.getLogger("kivy").addHandler(keep)
    try:
        assert _NoCutBufferWall().filter(wall) is False
        assert _NoCutBufferWall().filter(other) is True  # other failures still show
    finally:
        logging.getLogger("kivy").removeHandler(keep)
    assert [r.levelno for r in seen] == [logging.WARNING]
    assert "xclip" in seen[0].getMessage() and "File" not in seen[0].getMessage()
