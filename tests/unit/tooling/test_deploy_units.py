"""The systemd units of deploy/ pass `systemd-analyze verify` (docs/deploy.md
says they do): a unit systemd would refuse or warn about fails here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[3] / "deploy" / "systemd"
# Where the units expect the service's venv on a host (docs/deploy.md).
INSTALLED = "/opt/qpay-graph/venv/bin/qpay-graph"


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="no systemd-analyze here"
)
def test_the_shipped_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify checks that each command exists: the venv's is made to exist,
    # nothing else of the units is changed.
    executable = tmp_path / "qpay-graph"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    units = []
    for unit in sorted(UNITS.iterdir()):
        text = unit.read_text()
        copy = tmp_path / unit.name
        copy.write_text(text.replace(INSTALLED, str(executable)))
        units.append(str(copy))
    assert len(units) == 4
    assert INSTALLED in (UNITS / "qpay-graph.service").read_text()

    checked = subprocess.run(  # noqa: S603  # systemd's own tool, our files
        ["systemd-analyze", "verify", "--man=no", *units],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
