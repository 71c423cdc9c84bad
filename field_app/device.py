"""The tablet's hardware behind one small facade: GPS, camera, QR cards, device facts.

On Android these go through plyer (and, for QR cards, a scanner app reached with an intent); on
a computer they fall back to stand-ins that say what they are: no GPS (coordinates are typed),
no camera (photos come from the file chooser), QR codes typed from the text printed under them.
Callbacks may arrive on another thread; the screens move them to the UI thread.
"""

from __future__ import annotations

import logging
import os
import platform as host_platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from field_app.i18n import N_, Worded, _

log = logging.getLogger("pilotmon.field.device")

ON_ANDROID = "ANDROID_ARGUMENT" in os.environ or hasattr(sys, "getandroidapilevel")
# Permissions the app asks for at start on Android (also listed in buildozer.spec).
ANDROID_PERMISSIONS = ("CAMERA", "ACCESS_FINE_LOCATION", "ACCESS_COARSE_LOCATION")


@dataclass(frozen=True, slots=True)
class Fix:
    lat: float
    lon: float
    accuracy_m: float | None


class DeviceUnavailable(Worded, RuntimeError):
    """A feature this device does not have; the message says what to do instead (in the
    language of the moment it is shown)."""


class Device:
    """What the screens call. Subclasses differ only in where the features come from."""

    name = "computer"  # in the device's default name, sent to the server: never translated
    kind = N_("Computer")  # what Settings calls it, in the user's language

    def has_gps(self) -> bool:
        return False

    def has_camera(self) -> bool:
        return False

    def has_qr_scanner(self) -> bool:
        return False

    def has_photo_picker(self) -> bool:
        """The platform has its own photo picker (Android); else the app shows its chooser."""
        return False

    def start_gps(self, on_fix: Callable[[Fix], None], on_status: Callable[[str], None]) -> None:
        raise DeviceUnavailable(lambda: _("No GPS on this device: type the coordinates"))

    def stop_gps(self) -> None:
        """Stop listening for fixes (harmless when not started)."""

    def take_photo(self, path: Path, on_done: Callable[[Path | None], None]) -> None:
        raise DeviceUnavailable(lambda: _("No camera on this device: choose a photo file"))

    def scan_qr(self, on_code: Callable[[str | None], None]) -> None:
        raise DeviceUnavailable(lambda: _("No QR scanner: type the code printed under the QR"))

    def pick_photo(self, on_done: Callable[[Path | None], None]) -> None:
        """The platform's picker; ``on_done`` gets the chosen file (None: cancelled)."""
        raise DeviceUnavailable(lambda: _("No photo picker on this device: choose a photo file"))

    def request_permissions(self) -> None:
        """Ask for the runtime permissions the features need (Android only)."""

    def facts(self) -> dict[str, str]:
        """What Settings shows about this device."""
        return {
            "platform": f"{host_platform.system()} {host_platform.release()}",
            "machine": host_platform.machine(),
            "python": host_platform.python_version(),
        }


class AndroidDevice(Device):  # pragma: no cover - runs on a tablet only
    name = "android"
    kind = N_("Android device")

    def __init__(self) -> None:
        from plyer import camera, gps

        self._gps = gps
        self._camera = camera

    def has_gps(self) -> bool:
        return True

    def has_camera(self) -> bool:
        return True

    def has_qr_scanner(self) -> bool:
        return True

    def has_photo_picker(self) -> bool:
        return True

    def pick_photo(self, on_done: Callable[[Path | None], None]) -> None:
        # Android's own document picker, through plyer: the gallery, the camera roll and the
        # files the user knows, in the platform's look (not Kivy's file browser).
        from plyer import filechooser

        def chosen(selection: list[str] | None) -> None:
            path = Path(selection[0]) if selection else None
            on_done(path if path is not None and path.exists() else None)

        filechooser.open_file(
            on_selection=chosen,
            # MIME types on Android: what the server takes and photos.downscale reads (WebP
            # through the libwebp recipe in buildozer.spec).
            filters=["image/jpeg", "image/png", "image/webp"],
            title=_("Choose a photo"),
        )

    def request_permissions(self) -> None:
        from android.permissions import Permission, request_permissions

        request_permissions([getattr(Permission, p) for p in ANDROID_PERMISSIONS])

    def start_gps(self, on_fix: Callable[[Fix], None], on_status: Callable[[str], None]) -> None:
        def location(**kwargs: float) -> None:
            on_fix(
                Fix(
                    float(kwargs["lat"]),
                    float(kwargs["lon"]),
                    float(kwargs["accuracy"]) if "accuracy" in kwargs else None,
                )
            )

        def status(stype: str, status: str) -> None:
            on_status(f"{stype}: {status}")

        self._gps.configure(on_location=location, on_status=status)
        self._gps.start(minTime=1000, minDistance=0)

    def stop_gps(self) -> None:
        self._gps.stop()

    def take_photo(self, path: Path, on_done: Callable[[Path | None], None]) -> None:
        def complete(filename: str) -> bool:
            on_done(Path(filename) if filename and Path(filename).exists() else None)
            return False  # keep the file: the caller downscales and then deletes it

        self._camera.take_picture(filename=str(path), on_complete=complete)

    def scan_qr(self, on_code: Callable[[str | None], None]) -> None:
        # ZXing-compatible scanner apps answer this intent with the decoded text.
        from android import activity
        from jnius import autoclass

        intent_class = autoclass("android.content.Intent")
        python_activity = autoclass("org.kivy.android.PythonActivity")
        request_code = 0x5143  # "QC"

        def result(code: int, result_code: int, data: object) -> None:
            if code != request_code:
                return
            activity.unbind(on_activity_result=result)
            ok = result_code == -1 and data is not None
            on_code(data.getStringExtra("SCAN_RESULT") if ok else None)  # type: ignore

        intent = intent_class("com.google.zxing.client.android.SCAN")
        intent.putExtra("SCAN_MODE", "QR_CODE_MODE")
        activity.bind(on_activity_result=result)
        try:
            python_activity.mActivity.startActivityForResult(intent, request_code)
        except Exception as exc:  # ActivityNotFoundException arrives as JavaException
            activity.unbind(on_activity_result=result)
            raise DeviceUnavailable(
                lambda: _("No QR scanner app: install one (e.g. Barcode Scanner) or type the code")
            ) from exc

    def facts(self) -> dict[str, str]:
        from jnius import autoclass

        build = autoclass("android.os.Build")
        version = autoclass("android.os.Build$VERSION")
        return {
            "platform": f"Android {version.RELEASE} (API {version.SDK_INT})",
            "machine": f"{build.MANUFACTURER} {build.MODEL}",
            "python": host_platform.python_version(),
        }


class StandInDevice(Device):
    """A computer pretending to have a GPS at a fixed place, for demonstrations and tests
    (``PILOTMON_FIELD_GPS="lat,lon[,accuracy]"``). It says it is a stand-in in Settings."""

    name = "computer (GPS stand-in)"
    kind = N_("Computer (GPS stand-in)")

    def __init__(self, fix: Fix) -> None:
        self.fix = fix

    def has_gps(self) -> bool:
        return True

    def start_gps(self, on_fix: Callable[[Fix], None], on_status: Callable[[str], None]) -> None:
        on_status("stand-in")
        on_fix(self.fix)


def parse_stand_in(text: str) -> Fix:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3):
        raise ValueError("PILOTMON_FIELD_GPS must be 'lat,lon' or 'lat,lon,accuracy_m'")
    numbers = [float(p) for p in parts]
    return Fix(numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else None)


def detect() -> Device:
    """The device facade for where the app runs."""
    if ON_ANDROID:  # pragma: no cover - runs on a tablet only
        return AndroidDevice()
    stand_in = os.environ.get("PILOTMON_FIELD_GPS")
    if stand_in:
        return StandInDevice(parse_stand_in(stand_in))
    return Device()
