"""python-for-android recipe: the app's own packages (field_app, sync, shared) copied into the
APK's site-packages, without the server or its dependencies.

``requirements.source.pilotmon`` in ``field_app/buildozer.spec`` points p4a at the repository;
p4a copies it to this recipe's build directory, and ``build_arch`` copies the three packages.
"""

import shutil
from os.path import join

from pythonforandroid.recipe import PythonRecipe

PACKAGES = ("field_app", "sync", "shared")
# Not for the tablet: sources of translations, this recipe, the developer tools (catalogues.py
# needs Babel; cli.py is ``pilotmon field`` on a computer and needs click).
LEAVE_OUT_PATTERNS = ("__pycache__", "*.pyc", "*.po", "android", "catalogues.py", "cli.py")
LEAVE_OUT = shutil.ignore_patterns(*LEAVE_OUT_PATTERNS)


class PilotMonitorRecipe(PythonRecipe):
    name = "pilotmon"
    version = None
    url = None  # the source comes from requirements.source.pilotmon
    depends = ["python3", "sqlite3"]  # the pure-Python needs are in buildozer.spec
    call_hostpython_via_targetpython = False
    install_in_hostpython = False

    def build_arch(self, arch):
        source = self.get_build_dir(arch.arch)
        target = self.ctx.get_python_install_dir(arch.arch)
        for package in PACKAGES:
            shutil.rmtree(join(target, package), ignore_errors=True)
            shutil.copytree(join(source, package), join(target, package), ignore=LEAVE_OUT)


recipe = PilotMonitorRecipe()
