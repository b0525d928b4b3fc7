"""startup: seconds from `qpay-graph serve` with the embedded defaults to
/readyz answering 200, cold (a new DATA_DIR: initdb, migrations) and warm
(the same DATA_DIR again).

    python -m bench.startup [--quick]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT, arguments, free_port, print_table, write_results

SCRUB = (
    "DATABASE_URL",
    "EVENTS_URL",
    "QPAY_ENV",
    "QPAY_BASE_URL",
    "QPAY_CLIENT_ID",
    "QPAY_CLIENT_SECRET",
    "QPAY_INVOICE_CODE",
    "PUBLIC_BASE_URL",
    "AUTH_JWT_SECRET",
)


def one_start(data_dir: Path, log: Path) -> float:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in SCRUB}
    env.update(DATA_DIR=str(data_dir), LOG_LEVEL="WARNING")
    started = time.perf_counter()
    process = subprocess.Popen(  # the CLI as a user runs it
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client() as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"serve exited: {log.read_text()[-2000:]}")
                try:
                    if client.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        return time.perf_counter() - started
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def main() -> None:
    args = arguments(__doc__ or "")
    runs = 1 if args.quick else 3
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="qpg-start-") as tmp:
        for run in range(runs):
            data_dir = Path(tmp) / f"data-{run}"
            cold = one_start(data_dir, Path(tmp) / "serve.log")
            warm = one_start(data_dir, Path(tmp) / "serve.log")
            rows.append(
                {"run": run + 1, "cold_s": round(cold, 2), "warm_s": round(warm, 2)}
            )
    print_table(
        "startup: `qpay-graph serve` (embedded defaults) to /readyz 200",
        ["run", "cold s", "warm s"],
        [[r["run"], r["cold_s"], r["warm_s"]] for r in rows],
    )
    write_results(
        args.out,
        "startup",
        {
            "quick": args.quick,
            "rows": rows,
            "cold_max_s": max(r["cold_s"] for r in rows),
            "warm_max_s": max(r["warm_s"] for r in rows),
        },
    )


if __name__ == "__main__":
    main()
