"""A subscriber process for the benchmarks: one graphql-transport-ws socket per
intent, each subscribed to paymentStatus with the intent's client secret.

Prints READY once every subscription has its first (snapshot) event, records
time.time() when each intent is seen PAID and settled, and writes
{intent id: seen at} to the result file when all are seen, or on SIGINT /
SIGTERM, or after `timeout` seconds.

    python -m bench.clients spec.json
    spec: {"url": "ws://.../graphql", "intents": [{"id", "secret"}], "result": path,
           "timeout": 120, "expect": how many PAID to wait for (default: all)}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

QUERY = (
    "subscription($id: ID!, $secret: String) { paymentStatus(intentId: $id, "
    "clientSecret: $secret) { settled version intent { status } } }"
)


async def watch(
    url: str,
    intent: dict[str, str],
    ready: asyncio.Event,
    seen: dict[str, float],
    counters: dict[str, int],
    connect_limit: asyncio.Semaphore,
    done: asyncio.Event,
) -> None:
    async with connect_limit:
        socket = await connect(
            url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            compression=None,
            open_timeout=60,
            ping_interval=None,
            max_queue=4,
        )
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        await socket.recv()
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": QUERY,
                        "variables": {"id": intent["id"], "secret": intent["secret"]},
                    },
                }
            )
        )
    try:
        first = True
        async for raw in socket:
            message: dict[str, Any] = json.loads(raw)
            if message.get("type") != "next":
                if message.get("type") in ("complete", "error"):
                    break
                continue
            event = message["payload"]["data"]["paymentStatus"]
            if first:
                first = False
                counters["ready"] += 1
                if counters["ready"] == counters["total"]:
                    ready.set()
            if event["intent"]["status"] == "PAID" and event["settled"]:
                seen.setdefault(intent["id"], time.time())
                if len(seen) >= counters["expect"]:
                    done.set()
    finally:
        await socket.close()


CHECK = "mutation($id: ID!) { checkQPayPayment(intentId: $id) { intent { status } } }"


async def poll(
    base_url: str,
    token: str,
    intent: dict[str, str],
    interval: float,
    seen: dict[str, float],
    counters: dict[str, int],
    done: asyncio.Event,
    client: Any,
) -> None:
    """The replaced design: the browser asks "paid yet?" every `interval` s."""
    await asyncio.sleep(random.uniform(0, interval))  # spread the phases
    while intent["id"] not in seen:
        response = await client.post(
            f"{base_url}/graphql",
            json={"query": CHECK, "variables": {"id": intent["id"]}},
            headers={"Authorization": f"Bearer {token}"},
        )
        payload = response.json()["data"]["checkQPayPayment"]
        if payload["intent"] and payload["intent"]["status"] == "PAID":
            seen[intent["id"]] = time.time()
            if len(seen) >= counters["expect"]:
                done.set()
            return
        await asyncio.sleep(interval)


async def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    intents: list[dict[str, str]] = spec["intents"]
    seen: dict[str, float] = {}
    ready, done = asyncio.Event(), asyncio.Event()
    counters = {
        "ready": 0,
        "total": len(intents),
        "expect": int(spec.get("expect", len(intents))),
    }
    limit = asyncio.Semaphore(200)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, done.set)
    if spec.get("mode") == "poll":
        import httpx  # only the polling baseline speaks HTTP

        client = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100))
        tasks = [
            asyncio.create_task(
                poll(
                    spec["http_url"],
                    spec["token"],
                    i,
                    float(spec.get("interval", 3.0)),
                    seen,
                    counters,
                    done,
                    client,
                )
            )
            for i in intents
        ]
        ready.set()
    else:
        tasks = [
            asyncio.create_task(
                watch(spec["url"], i, ready, seen, counters, limit, done)
            )
            for i in intents
        ]
    await ready.wait()
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), float(spec.get("timeout", 120)))
    Path(spec["result"]).write_text(json.dumps(seen))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
