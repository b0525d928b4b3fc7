"""pip-audit over every package uv.lock pins (`make audit`, part of `make check`).

    python .ci/audit.py REQUIREMENTS   # uv export of uv.lock, with hashes

PyPI's vulnerability data is asked first (it also checks the lock's hashes
against PyPI's), then OSV's. A known vulnerability that is not in IGNORED
fails (exit 1). When neither service can be asked (no network, a mirror
without PyPI's per-version JSON API, no answer within TIMEOUT_SECONDS) or a
package could not be audited, a warning says so and the check goes on
(exit 0): an unreachable service is not a vulnerability, and the tests should
still run offline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

# Vulnerability id -> why it is ignored (and when to look again). Empty: every
# known vulnerability in a pinned version fails the check; bump the pin with
# `make lock UPGRADE=name` instead when a fixed version is allowed.
IGNORED: dict[str, str] = {}

SERVICES = ("pypi", "osv")
TIMEOUT_SECONDS = 240
REQUEST_TIMEOUT_SECONDS = 15


def run_pip_audit(requirements: str, service: str) -> dict[str, Any] | str:
    """pip-audit's JSON report, or why there is none."""
    command = [
        str(Path(sys.executable).with_name("pip-audit")),
        "--requirement",
        requirements,
        "--require-hashes",
        "--disable-pip",
        "--vulnerability-service",
        service,
        "--timeout",
        str(REQUEST_TIMEOUT_SECONDS),
        "--format",
        "json",
        "--progress-spinner",
        "off",
    ]
    for vulnerability in IGNORED:
        command += ["--ignore-vuln", vulnerability]
    try:
        done = subprocess.run(  # noqa: S603  # our own fixed command
            command,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"no answer within {TIMEOUT_SECONDS} s"
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        lines = done.stderr.strip().splitlines() or ["no output"]
        return lines[-1]
    return report


def verdict(report: dict[str, Any], service: str) -> tuple[int, list[str], bool]:
    """(exit status, lines to print, whether every package was audited)."""
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if "skip_reason" in d]
    lines: list[str] = []
    for dependency in vulnerable:
        for vulnerability in dependency["vulns"]:
            fixes = ", ".join(vulnerability.get("fix_versions") or []) or "none yet"
            aliases = ", ".join(vulnerability.get("aliases") or [])
            lines.append(
                f"VULNERABLE {dependency['name']} {dependency['version']}: "
                f"{vulnerability['id']}"
                + (f" ({aliases})" if aliases else "")
                + f", fixed in: {fixes}"
            )
    if skipped:
        names = ", ".join(d["name"] for d in skipped[:8])
        more = f" and {len(skipped) - 8} more" if len(skipped) > 8 else ""
        lines.append(
            f"WARNING: {service}: {len(skipped)} of {len(dependencies)} packages "
            f"could not be audited ({names}{more}): {skipped[0]['skip_reason']}"
        )
    audited = len(dependencies) - len(skipped)
    if vulnerable:
        lines.append(
            f"pip-audit ({service}): known vulnerabilities in "
            f"{len(vulnerable)} pinned packages: bump them (make lock "
            "UPGRADE=name) or, if no fix can be taken, add the id to IGNORED "
            "in .ci/audit.py with the reason"
        )
        return 1, lines, not skipped
    if audited:
        lines.append(
            f"pip-audit ({service}): no known vulnerabilities in {audited} "
            "pinned packages"
            + (f" ({len(IGNORED)} ignored: see .ci/audit.py)" if IGNORED else "")
        )
    return 0, lines, bool(dependencies) and not skipped


def main(requirements: str) -> int:
    problems: list[str] = []
    for service in SERVICES:
        report = run_pip_audit(requirements, service)
        if isinstance(report, str):
            problems.append(f"{service}: {report}")
            continue
        status, lines, complete = verdict(report, service)
        if complete or status:
            sys.stdout.write("".join(f"{line}\n" for line in lines))
            return status
        problems.extend(lines)
    sys.stderr.write(
        "WARNING: the dependencies could NOT be audited for known "
        "vulnerabilities (the check goes on without it):\n"
        + "".join(f"  {problem}\n" for problem in problems)
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__ or "")
        raise SystemExit(2)
    raise SystemExit(main(sys.argv[1]))
