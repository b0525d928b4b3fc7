"""`make audit` (.ci/audit.py): a known vulnerability fails the check; a
vulnerability service that cannot be asked is a loud warning, not a failure."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / ".ci" / "audit.py"


@pytest.fixture
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_audit", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CLEAN = {"dependencies": [{"name": "sniffio", "version": "1.3.1", "vulns": []}]}
VULNERABLE = {
    "dependencies": [
        {"name": "sniffio", "version": "1.3.1", "vulns": []},
        {
            "name": "jinja2",
            "version": "2.10",
            "vulns": [
                {
                    "id": "PYSEC-2019-217",
                    "fix_versions": ["2.10.1"],
                    "aliases": ["CVE-2019-10906"],
                }
            ],
        },
    ]
}
NOT_FOUND = {
    "dependencies": [
        {
            "name": "sniffio",
            "skip_reason": "Dependency not found on PyPI and could not be audited",
        }
    ]
}


def answers(audit: ModuleType, by_service: dict[str, Any]) -> None:
    def run_pip_audit(requirements: str, service: str) -> Any:
        return by_service[service]

    setattr(audit, "run_pip_audit", run_pip_audit)  # noqa: B010  # a loaded script


def test_passes_when_no_pinned_package_has_a_known_vulnerability(
    audit: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    answers(audit, {"pypi": CLEAN})

    assert audit.main("lock.txt") == 0
    assert "no known vulnerabilities in 1 pinned packages" in capsys.readouterr().out


def test_fails_naming_the_package_when_a_pin_is_vulnerable(
    audit: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    answers(audit, {"pypi": VULNERABLE})

    assert audit.main("lock.txt") == 1
    out = capsys.readouterr().out
    assert "VULNERABLE jinja2 2.10: PYSEC-2019-217 (CVE-2019-10906)" in out
    assert "fixed in: 2.10.1" in out


def test_osv_asked_when_pypi_could_audit_nothing(
    audit: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    answers(audit, {"pypi": NOT_FOUND, "osv": VULNERABLE})

    assert audit.main("lock.txt") == 1
    assert "VULNERABLE jinja2" in capsys.readouterr().out


def test_warns_and_passes_when_no_service_can_be_asked(
    audit: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    answers(audit, {"pypi": NOT_FOUND, "osv": "ConnectionError: api.osv.dev"})

    assert audit.main("lock.txt") == 0
    err = capsys.readouterr().err
    assert "could NOT be audited" in err
    assert "1 of 1 packages could not be audited (sniffio)" in err
    assert "osv: ConnectionError: api.osv.dev" in err


def test_answer_awaited_at_most_the_timeout_when_pip_audit_hangs(
    audit: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hanging = tmp_path / "pip-audit"
    hanging.write_text("#!/bin/sh\nexec sleep 30\n")
    hanging.chmod(0o755)
    monkeypatch.setattr(audit.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(audit, "TIMEOUT_SECONDS", 0.2)

    assert audit.run_pip_audit("lock.txt", "pypi") == "no answer within 0.2 s"
