"""settle_throughput: settleInvoice(CASH), a new idempotency key each,
concurrency 32, against one service process; mutations per second.

Baseline in the same run: the same SQL transaction done directly with
asyncpg at the same concurrency (lock the invoice, claim the key, insert the
payment, update the invoice, complete the key, commit). Our cost = baseline
rate / our rate. Also a pyinstrument profile of the mutation path (in
process), top frames by own time.

    python -m bench.settle_throughput [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from app.staff_tokens import StaffTokens
from bench.common import (
    JWT_SECRET,
    ROOT,
    arguments,
    asyncpg_url,
    database,
    print_table,
    service_env,
    services,
    simulator_server,
    staff_client,
    write_results,
)

CONCURRENCY = 32
CREATE = (
    "mutation($t: Decimal!) { createInvoice(input: {total: $t}) { invoice { id } } }"
)


async def make_invoices(url: str, count: int) -> list[str]:
    async with staff_client(url) as client:
        bodies = await asyncio.gather(
            *(
                client.post(
                    "/graphql",
                    json={"query": CREATE, "variables": {"t": "999999999.00"}},
                )
                for _ in range(count)
            )
        )
    return [b.json()["data"]["createInvoice"]["invoice"]["id"] for b in bodies]


async def through_the_api(db_url: str, work: Path, seconds: float) -> dict[str, Any]:
    async with simulator_server() as (_, simulator_url):
        env = service_env(db_url, simulator_url)
        async with services(1, env, work / "api") as (service,):
            invoices = await make_invoices(service.url, CONCURRENCY * 4)
            spec = work / "load.json"
            spec.write_text(
                json.dumps(
                    {
                        "url": service.url,
                        "invoices": invoices,
                        "seconds": seconds,
                        "concurrency": CONCURRENCY,
                        "token": StaffTokens(JWT_SECRET).issue(ttl_seconds=3600),
                    }
                )
            )
            # Warm up, then measure. wrk (C) when installed, so the load
            # generator does not eat the CPU the server is measured on.
            load: Callable[[Path], dict[str, Any]]
            if shutil.which("wrk"):
                load = _run_wrk
                generator = "wrk"
            else:
                load = _run_load
                generator = "python (httpx)"
            warm = dict(json.loads(spec.read_text()), seconds=min(2.0, seconds))
            (work / "warm.json").write_text(json.dumps(warm))
            await asyncio.to_thread(load, work / "warm.json")
            result = await asyncio.to_thread(load, spec)
    result["rate"] = round(result["done"] / result["seconds"], 1)
    result["load_generator"] = generator
    return result


def _run_wrk(spec_path: Path) -> dict[str, Any]:
    spec = json.loads(spec_path.read_text())
    env = {
        **os.environ,
        "BENCH_INVOICES": ",".join(spec["invoices"]),
        "BENCH_TOKEN": spec["token"],
    }
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{spec['concurrency']}",
            f"-d{max(1, round(spec['seconds']))}s",
            "-s",
            str(ROOT / "bench" / "settle.lua"),
            f"{spec['url']}/graphql",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    line = next(ln for ln in reversed(output.splitlines()) if ln.startswith("{"))
    return dict(json.loads(line))


def _run_load(spec: Path) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, "-m", "bench.load", str(spec)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


BASELINE_TX = [
    ("SELECT id, total, paid_amount, status FROM invoices WHERE id = $1 FOR UPDATE", 1),
    (
        "INSERT INTO idempotency_keys (key, fingerprint, invoice_id, created_at) "
        "VALUES ($1, $2, $3, now()) ON CONFLICT (key) DO NOTHING RETURNING key",
        3,
    ),
    ("SELECT enabled FROM payment_method_configs WHERE method = 'CASH'", 0),
    (
        "INSERT INTO payments (id, invoice_id, method, amount, created_at) "
        "VALUES ($1, $2, 'CASH', 1.00, now())",
        2,
    ),
    (
        "UPDATE invoices SET paid_amount = paid_amount + 1.00, "
        "status = 'PARTIALLY_PAID', updated_at = now() WHERE id = $1",
        1,
    ),
    ("UPDATE idempotency_keys SET payment_id = $2 WHERE key = $1", 2),
]


async def baseline(db_url: str, seconds: float) -> dict[str, Any]:
    """The same transaction with asyncpg directly: no GraphQL, no ORM, no HTTP."""
    async with asyncpg.create_pool(
        asyncpg_url(db_url), min_size=CONCURRENCY, max_size=CONCURRENCY
    ) as pool:
        invoices = [
            await pool.fetchval(
                "INSERT INTO invoices (id, number, total, paid_amount, status) "
                "VALUES ($1, $2, 999999999.00, 0, 'UNPAID') RETURNING id",
                uuid.uuid4(),
                f"BASE-{n}-{uuid.uuid4().hex[:6]}",
            )
            for n in range(CONCURRENCY * 4)
        ]
        done = 0
        deadline = time.monotonic() + seconds

        async def worker(index: int) -> None:
            nonlocal done
            invoice = invoices[index % len(invoices)]
            while time.monotonic() < deadline:
                async with pool.acquire() as connection, connection.transaction():
                    key, payment = uuid.uuid4().hex, uuid.uuid4()
                    await connection.fetchrow(BASELINE_TX[0][0], invoice)
                    await connection.fetchval(BASELINE_TX[1][0], key, "f" * 64, invoice)
                    await connection.fetchval(BASELINE_TX[2][0])
                    await connection.execute(BASELINE_TX[3][0], payment, invoice)
                    await connection.execute(BASELINE_TX[4][0], invoice)
                    await connection.execute(BASELINE_TX[5][0], key, payment)
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
        elapsed = time.monotonic() - started
    return {"done": done, "seconds": elapsed, "rate": round(done / elapsed, 1)}


async def profile(db_url: str, requests: int) -> list[dict[str, Any]]:
    """pyinstrument over the mutation path, in process (httpx ASGI transport)."""
    import httpx
    from pyinstrument import Profiler

    from app.main import create_app
    from app.settings import load_settings

    settings = load_settings(
        _env_file=None,
        database_url=db_url,
        events_url="memory://",
        auth_jwt_secret=JWT_SECRET,
        log_level="WARNING",
        data_dir=Path(tempfile.mkdtemp()),
    )
    app = create_app(settings, background=False)
    token = StaffTokens(JWT_SECRET).issue()
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://x",
            headers={"Authorization": f"Bearer {token}"},
        )
        created = await client.post(
            "/graphql", json={"query": CREATE, "variables": {"t": "999999999.00"}}
        )
        invoice = created.json()["data"]["createInvoice"]["invoice"]["id"]
        query = (
            "mutation($i: SettleInvoiceInput!) { settleInvoice(input: $i) "
            "{ alreadySettled errors { code } } }"
        )
        profiler = Profiler(interval=0.0005, async_mode="enabled")
        profiler.start()
        for _ in range(requests):
            await client.post(
                "/graphql",
                json={
                    "query": query,
                    "variables": {
                        "i": {
                            "invoiceId": invoice,
                            "method": "CASH",
                            "amount": "1.00",
                            "idempotencyKey": uuid.uuid4().hex,
                        }
                    },
                },
            )
        profiler.stop()
        await client.aclose()
    return top_frames(profiler, 10)


def top_frames(profiler: Any, count: int) -> list[dict[str, Any]]:
    """Own time per function (pyinstrument's "[self]" and "[await]" pseudo
    frames are charged to the function they belong to), the top `count`."""
    totals: dict[str, float] = {}
    root = profiler.last_session.root_frame()

    def label(frame: Any) -> str:
        name = Path(frame.file_path or "?").name
        return f"{frame.function} ({name}:{frame.line_no})"

    def walk(frame: Any, parent: str) -> None:
        if str(frame.function).startswith("["):
            # A pseudo frame holds its parent's own time (pyinstrument 5).
            totals[parent] = totals.get(parent, 0.0) + frame.total_self_time
            return
        key = label(frame)
        if not frame.children:
            totals[key] = totals.get(key, 0.0) + frame.total_self_time
        for child in frame.children:
            walk(child, key)

    walk(root, "root")
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)[:count]
    return [{"frame": name, "self_share": round(t / whole, 3)} for name, t in ranked]


def main() -> None:
    args = arguments(__doc__ or "")
    with database() as db_url, tempfile.TemporaryDirectory(prefix="qpg-settle-") as tmp:
        asyncio.run(run(args, db_url, Path(tmp)))


async def run(args: argparse.Namespace, db_url: str, work: Path) -> None:
    seconds = 2.0 if args.quick else 15.0
    ours = await through_the_api(db_url, work, seconds)
    base = await baseline(db_url, seconds)
    frames = await profile(db_url, 30 if args.quick else 400)
    ratio = round(base["rate"] / ours["rate"], 2) if ours["rate"] else None
    print_table(
        f"settle_throughput: settleInvoice(CASH), concurrency {CONCURRENCY}",
        ["path", "mutations", "errors", "seconds", "per second"],
        [
            [
                "GraphQL over HTTP (one process)",
                ours["done"],
                ours["errors"],
                round(ours["seconds"], 1),
                ours["rate"],
            ],
            [
                "same SQL with asyncpg directly",
                base["done"],
                0,
                round(base["seconds"], 1),
                base["rate"],
            ],
        ],
    )
    print_table("cost relative to the asyncpg baseline", ["ratio"], [[ratio]])
    print_table(
        "profile of the mutation path (own time)",
        ["frame", "share"],
        [[f["frame"], f["self_share"]] for f in frames],
    )
    write_results(
        args.out,
        "settle_throughput",
        {
            "quick": args.quick,
            "concurrency": CONCURRENCY,
            "ours": ours,
            "baseline": base,
            "cost_ratio": ratio,
            "profile_top": frames,
        },
    )


if __name__ == "__main__":
    main()
