"""`make lint`'s dependency audit: pip-audit, with a clear verdict when it could not audit.

pip-audit says "No known vulnerabilities found" even when the vulnerability service knew none of
the installed packages (an offline machine, or one behind a private package mirror): nothing
was checked, yet it reads like a pass. This wrapper says which case it is:

    exit 0  every package was audited and none has a known vulnerability
    exit 1  known vulnerabilities (listed, with the versions that fix them)
    exit 3  the audit could not run or could not check the packages; set AUDIT_OFFLINE=warn to
            let `make lint` continue anyway (the message still says nothing was audited)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PIP_AUDIT = Path(sys.executable).with_name("pip-audit")
TIMEOUT_S = 600
# Below this share of audited packages the result says nothing useful.
MIN_AUDITED_SHARE = 0.9


def _offline(message: str) -> int:
    mode = os.environ.get("AUDIT_OFFLINE", "fail").lower()
    print(f"pip-audit: NOT AUDITED: {message}", file=sys.stderr)
    if mode == "warn":
        print("pip-audit: continuing because AUDIT_OFFLINE=warn", file=sys.stderr)
        return 0
    print(
        "pip-audit: run `make lint` where https://pypi.org is reachable, or set "
        "AUDIT_OFFLINE=warn to continue without an audit",
        file=sys.stderr,
    )
    return 3


def main() -> int:
    command = [str(PIP_AUDIT), "--skip-editable", "--progress-spinner", "off", "--format", "json"]
    try:
        result = subprocess.run(  # noqa: S603
            command,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        return _offline(f"{PIP_AUDIT} is not installed (pip install -e '.[test]')")
    except subprocess.TimeoutExpired:
        return _offline(f"pip-audit did not answer within {TIMEOUT_S} s")
    try:
        report = json.loads(result.stdout)
        dependencies = report["dependencies"]
    except (ValueError, KeyError, TypeError):
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit code {result.returncode}"
        return _offline(f"the vulnerability service could not be reached ({reason})")
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = [d for d in dependencies if not d.get("skip_reason")]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            print(
                f"pip-audit: {dependency['name']} {dependency.get('version', '?')}: "
                f"{vuln.get('id', '?')} (fixed in: {fixes})",
                file=sys.stderr,
            )
    if vulnerable:
        return 1
    if not dependencies or len(audited) < MIN_AUDITED_SHARE * len(dependencies):
        return _offline(
            f"the vulnerability service knew only {len(audited)} of {len(dependencies)} "
            "installed packages (offline machine or private package mirror?)"
        )
    names = ", ".join(d["name"] for d in skipped[:5])
    more = (
        f" (not known to the service: {names}{', ...' if len(skipped) > 5 else ''})"
        if skipped
        else ""
    )
    print(f"pip-audit: {len(audited)} packages audited, no known vulnerabilities{more}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
