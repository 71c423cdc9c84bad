"""What the Android build installs, tried on this computer: an empty environment gets exactly
``field_app/buildozer.spec``'s pip requirements with ``--no-deps`` (as python-for-android
installs them; pydantic-core, pillow and kivy at the versions their recipes build, from PyPI
wheels here), the app's packages copied as the local recipe copies them, and then every shipped
module is imported and a tablet enrols, saves an activity with a photo and syncs it to a live
server.

The finding this guards: an unpinned pydantic (2.14 without typing-inspection, 2.14 with the
recipe's pydantic-core 2.41.4, or p4a's own pick 1.10) crashed the app at start.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.field_app import kivy_driver
from tests.field_app.conftest import LiveServer
from tests.field_app.test_package import (
    RECIPE_ONLY,
    RECIPE_VERSIONS,
    ROOT,
    buildozer_requirements,
)

pytestmark = [pytest.mark.slow]

RECIPE = ROOT / "field_app" / "android" / "p4a-recipes" / "pilotmon" / "__init__.py"

# Runs inside the new environment: import every shipped module, then enrol, save, sync.
TABLET = r"""
import importlib, json, pkgutil, sys, traceback
from datetime import datetime, timezone
from pathlib import Path

server, code, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
failed = {}
imported = []
for package in ("shared", "sync", "field_app"):
    module = importlib.import_module(package)
    names = [package] + [
        m.name for m in pkgutil.walk_packages(module.__path__, package + ".")
        if not m.name.endswith("__main__")
    ]
    for name in names:
        try:
            importlib.import_module(name)
            imported.append(name)
        except BaseException:
            failed[name] = traceback.format_exc(limit=3)

from PIL import Image
from field_app.backend import StoreBackend
from field_app.controllers.attendance import Cell
from field_app.controllers.form import ActivityForm
from field_app.device import Device
from field_app.photos import downscale
from field_app.session import FieldSession

data = work / "tablet"
session = FieldSession(backend=StoreBackend(data), device=Device(), data_dir=data)
session.enrol(server_url=server, code=code)
session.backend.sync_once()
[project] = session.projects()
form = ActivityForm(
    project=project, sites=session.backend.sites(project["id"]), today=session.today()
)
form.set("type", "demonstration")
form.set("title", "Built like the tablet")
form.set_attendance(Cell("farmer", False, "female", "adult"), "7")
camera = work / "camera.jpg"
Image.effect_noise((2400, 1800), 40).convert("RGB").save(camera, quality=92)
photo = downscale(camera, session.photos_dir)
form.add_photo(photo)
session.save(form)
session.backend.sync_once()
status = session.status()

# Custody receipts with the cryptography the APK ships: sign as the server does, verify.
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from shared import receipts
key = Ed25519PrivateKey.generate()
published = receipts.public_key_text(key)
key_id = receipts.key_id_for(published)
receipt = receipts.sign(
    {"entity": "activity", "id": form.id, "version": 1, "attachments": [],
     "device_id": session.backend.device_id(), "issued_at": "2026-01-01T00:00:00+00:00"},
    key, key_id,
)
keys = receipts.load_public_keys([{"key_id": key_id, "public_key": published}])
receipts.verify(receipt, keys)
forged = {**receipt, "version": 2}
try:
    receipts.verify(forged, keys)
    forged_refused = False
except receipts.ReceiptError:
    forged_refused = True
print(json.dumps({
    "failed": failed,
    "imported": imported,
    "activity": form.id,
    "photo": photo.id,
    "photo_size": photo.size,
    "everything_sent": status.everything_sent,
    "state": session.backend.activity(form.id).state,
    "versions": {
        "pydantic": importlib.import_module("pydantic").VERSION,
        "pydantic_core": importlib.import_module("pydantic_core").__version__,
        "cryptography": importlib.import_module("cryptography").__version__,
    },
    "forged_refused": forged_refused,
}))
session.close()
"""


def recipe_leaves_out() -> tuple[str, ...]:
    """The patterns the local recipe leaves out of the APK (read from the recipe, which
    imports python-for-android and so cannot be imported here)."""
    for node in ast.walk(ast.parse(RECIPE.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "LEAVE_OUT_PATTERNS" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"no LEAVE_OUT_PATTERNS in {RECIPE}")


def test_the_android_requirements_alone_run_the_app_and_sync_a_photo(
    sqlite_server: LiveServer, tmp_path: Path
) -> None:
    reason = kivy_driver.probe()
    if reason is not None:
        pytest.skip(f"{kivy_driver.HOW_TO_ENABLE} ({reason})")
    environment = tmp_path / "apk-env"
    venv.EnvBuilder(with_pip=True).create(environment)
    python = environment / "bin" / "python"
    pins = [
        f"{name}=={version}"
        for name, version in buildozer_requirements().items()
        if name not in RECIPE_ONLY
    ]
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            *pins,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    leave_out = shutil.ignore_patterns(*recipe_leaves_out())
    for package in ("field_app", "sync", "shared"):
        shutil.copytree(ROOT / package, site / package, ignore=leave_out)
    assert not (site / "field_app" / "cli.py").exists()

    run = subprocess.run(
        [str(python), "-c", TABLET, sqlite_server.url, sqlite_server.codes[0], str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,  # not the repository: only what was installed can be imported
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            **kivy_driver.environment(),
        },
    )
    assert run.returncode == 0, run.stderr[-4000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["failed"] == {}, "\n".join(found["failed"].values())
    assert {"field_app.app", "field_app.screens.form", "sync.protocol", "shared.validation"} <= set(
        found["imported"]
    )
    assert found["versions"] == {
        "pydantic": "2.12.3",
        "pydantic_core": "2.41.4",
        "cryptography": RECIPE_VERSIONS["cryptography"],
    }
    assert found["forged_refused"]
    assert found["everything_sent"] and found["state"] == "synced"
    answer = sqlite_server.api("GET", f"/attachments/{found['photo']}")
    assert answer.status_code == 200 and len(answer.content) == found["photo_size"]
    assert sqlite_server.activity(found["activity"])["title"] == "Built like the tablet"
    assert sys.prefix != str(environment)
