"""Every benchmark still runs: each script in --quick mode must produce
well-formed results. Never a time assertion here: the figures are measured
by `make bench` and published in docs/benchmarks.md."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def run_quick(module: str, out: Path) -> dict[str, Any]:
    env = dict(os.environ)
    done = subprocess.run(  # noqa: S603  # our own scripts
        [sys.executable, "-m", module, "--quick", "--out", str(out)],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # On failure, show what the script printed (its table names the check).
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    name = module.rsplit(".", 1)[-1]
    data: dict[str, Any] = json.loads((out / f"{name}.json").read_text())
    assert data["benchmark"] == name
    assert data["quick"] is True
    assert data["machine"]["cpus"]
    return data


def assert_latency_row(row: dict[str, Any]) -> None:
    assert row["n"] > 0
    for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
        assert isinstance(row[key], int | float) and row[key] >= 0
    assert row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]


def test_push_latency_produces_percentiles_when_run_quick(tmp_path: Path) -> None:
    data = run_quick("bench.push_latency", tmp_path)

    (row,) = data["rows"]
    assert row["missing"] == 0
    assert_latency_row(row)


def test_floor_sets_the_service_beside_the_floor_when_run_quick(
    tmp_path: Path,
) -> None:
    data = run_quick("bench.floor", tmp_path)

    assert sorted(row["variant"] for row in data["rows"]) == ["floor", "service"]
    for row in data["rows"]:
        assert row["missing"] == 0 and row["service_cpu_ms_per_payment"] > 0
    (compared,) = data["ratios"]
    assert compared["ratio"] == pytest.approx(
        compared["service_cpu_ms_per_payment"] / compared["floor_cpu_ms_per_payment"],
        abs=0.01,
    )


def test_notify_commit_compares_commits_with_and_without_notify_when_run_quick(
    tmp_path: Path,
) -> None:
    data = run_quick("bench.notify_commit", tmp_path)

    rows = {(r["connections"], r["notify"]): r for r in data["rows"]}
    assert set(rows) == {(1, False), (1, True), (8, False), (8, True)}
    for (_, notify), row in rows.items():
        assert row["transactions"] > 0
        # Every notification sent is heard, and none without NOTIFY.
        assert row["heard"] == (row["transactions"] if notify else 0)
    assert [r["cpu_us"] > 0 for r in data["listener"]] == [True, True, True]


def test_background_prices_an_idle_service_per_qpay_check_when_run_quick(
    tmp_path: Path,
) -> None:
    data = run_quick("bench.background", tmp_path)

    row = data["row"]
    assert row["watched"] == 6
    # Nobody pays, yet the poller asks QPay about the watched intents.
    assert row["qpay_checks"] > 0 and row["cpu_ms_per_second"] > 0
    assert row["cpu_ms_per_check"] == pytest.approx(
        row["cpu_ms_per_second"] * row["seconds"] / row["qpay_checks"], rel=0.05
    )


def test_poller_only_counts_checks_when_run_quick(tmp_path: Path) -> None:
    data = run_quick("bench.poller_only", tmp_path)

    scenarios = {row["scenario"]: row for row in data["rows"]}
    assert set(scenarios) == {"callbacks dropped", "callbacks on, service just started"}
    for row in scenarios.values():
        assert row["settled"] == row["payments"]
        assert row["checks_per_payment"] > 0
        assert_latency_row(row)


def test_subscriber_capacity_measures_memory_when_run_quick(tmp_path: Path) -> None:
    data = run_quick("bench.subscriber_capacity", tmp_path)

    (row,) = data["rows"]
    assert row["subscribers"] == 100
    assert row["rss_with_subscribers_mb"] >= row["rss_before_mb"] > 0
    assert_latency_row(row)


def test_settle_throughput_compares_with_the_baseline_when_run_quick(
    tmp_path: Path,
) -> None:
    data = run_quick("bench.settle_throughput", tmp_path)

    assert data["ours"]["done"] > 0 and data["ours"]["errors"] == 0
    assert data["baseline"]["done"] > 0
    assert data["cost_ratio"] > 0
    assert len(data["profile_top"]) == 10


def test_startup_times_cold_and_warm_when_run_quick(tmp_path: Path) -> None:
    data = run_quick("bench.startup", tmp_path)

    (row,) = data["rows"]
    assert row["cold_s"] > 0 and row["warm_s"] > 0


def test_chaos_run_holds_every_invariant_when_run_quick(tmp_path: Path) -> None:
    data = run_quick("bench.chaos", tmp_path)

    assert data["checks"] and all(data["checks"].values()), data["checks"]
    assert data["faults_injected"]["500"] + data["faults_injected"]["401"] > 0
    assert data["lost"] == data["invented"] == data["receipts_issued_twice"] == 0
    assert data["qpay_payments"] > data["payments"]  # late money came too
    recorded_or_flagged = data["payments_recorded"] + data["unrecordable_flagged"]
    assert recorded_or_flagged == data["qpay_payments"]
    assert data["late_after_cancel"] and data["late_after_expiry"]
    # Money went back mid-run, at QPay outside the service and through QPay's
    # refund endpoint, and each refund QPay made was recorded once.
    assert data["refunds_not_made"] == []
    assert data["refunded_outside"] and data["refunded_outside_early"]
    assert data["refunds_recorded"]["OUTSIDE COMPLETED"] > 0
    assert data["refunds_recorded"]["QPAY COMPLETED"] > 0
    assert data["refunded_at_qpay"] == sum(
        n for kind, n in data["refunds_recorded"].items() if kind.endswith(" COMPLETED")
    )
    assert data["refunds_pending"] == data["refunds_unrecorded"] == 0


def test_hostile_clients_are_all_answered_when_run_quick(tmp_path: Path) -> None:
    data = run_quick("bench.hostile", tmp_path)

    answers = {o["attack"]: o["answer"] for o in data["outcomes"]}
    assert len(answers) == 18
    assert answers["fragment bomb (22 levels), HTTP, no token"] == "200 UNAUTHENTICATED"
    # Each huge frame is refused as too big (1009), or, when a loaded machine
    # is slower to send 15 MB than the init timeout, as too late (4408).
    closes = re.findall(
        r"(\d{4}) x(\d+)", answers["20 websockets x 15 MB connection_init"]
    )
    assert {code for code, _ in closes} <= {"1009", "4408"}, closes
    assert sum(int(count) for _, count in closes) == 20
    assert "0 open" in answers["300 idle anonymous websockets, one address"]
    assert (
        "200 accepted, 100 refused 403"
        in answers["300 idle anonymous websockets, one address"]
    )
    assert answers["those sockets cut mid-stream"].endswith("left after each run: 0")
    assert [exit_code for _, exit_code, _ in data["refusals"]] == [2] * 6
    assert data["sigterm_seconds"] > 0
