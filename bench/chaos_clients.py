"""Chaos subscribers: one paymentStatus subscription per intent, on the
process the driver assigned; some drop their socket mid-payment and
subscribe again; all of them reconnect with backoff when their server dies.
Records the last event of each intent and writes them when the server has
completed every subscription (a terminal state, and no e-Barimt receipt still
being issued), or on SIGINT/SIGTERM, or after `timeout`.

    python -m bench.chaos_clients spec.json
    spec: {"intents": [{"id", "secret", "url"}], "result": path,
           "flaky": fraction that resubscribes mid-payment, "timeout": s}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException
from websockets.typing import Subprotocol

QUERY = (
    "subscription($id: ID!, $secret: String) { paymentStatus(intentId: $id, "
    "clientSecret: $secret) { settled version intent { status paidAmount } } }"
)
TERMINAL = {"CANCELLED", "EXPIRED", "NEEDS_REVIEW", "REFUNDED"}


def final(event: dict[str, Any]) -> bool:
    status = event["intent"]["status"]
    return status in TERMINAL or (status == "PAID" and event.get("settled", False))


async def follow(
    intent: dict[str, str],
    flaky: bool,
    last: dict[str, dict[str, Any]],
    counters: dict[str, int],
    done: asyncio.Event,
    limit: asyncio.Semaphore,
) -> None:
    backoff = 0.2
    resubscribed = False
    while True:
        try:
            async with limit:
                socket = await connect(
                    intent["url"],
                    subprotocols=[Subprotocol("graphql-transport-ws")],
                    compression=None,
                    open_timeout=20,
                    ping_interval=None,
                )
            async with socket:
                await socket.send(
                    json.dumps({"type": "connection_init", "payload": {}})
                )
                await socket.recv()
                await socket.send(
                    json.dumps(
                        {
                            "id": "1",
                            "type": "subscribe",
                            "payload": {
                                "query": QUERY,
                                "variables": {
                                    "id": intent["id"],
                                    "secret": intent["secret"],
                                },
                            },
                        }
                    )
                )
                backoff = 0.2
                async for raw in socket:
                    message = json.loads(raw)
                    if message.get("type") == "next" and message["payload"].get("data"):
                        event = message["payload"]["data"]["paymentStatus"]
                        previous = last.get(intent["id"])
                        if previous is None or event["version"] >= previous["version"]:
                            last[intent["id"]] = event
                        if flaky and not resubscribed and not final(event):
                            # A phone that loses its socket mid-payment.
                            resubscribed = True
                            break
                    elif message.get("type") == "complete" and final(
                        last.get(intent["id"]) or {"intent": {"status": ""}}
                    ):
                        # The server ends the subscription once nothing more
                        # will change (a receipt being issued keeps it open).
                        counters["final"] += 1
                        if counters["final"] >= counters["total"]:
                            done.set()
                        return
                    elif message.get("type") in ("complete", "error"):
                        break
            await asyncio.sleep(random.uniform(0.1, 1.5))
        except (OSError, WebSocketException, TimeoutError):
            await asyncio.sleep(backoff * (1 + random.random()))
            backoff = min(backoff * 2, 5.0)


async def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    intents: list[dict[str, str]] = spec["intents"]
    last: dict[str, dict[str, Any]] = {}
    counters = {"final": 0, "total": len(intents)}
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, done.set)
    limit = asyncio.Semaphore(100)
    flaky = float(spec.get("flaky", 0.2))
    tasks = [
        asyncio.create_task(
            follow(i, random.random() < flaky, last, counters, done, limit)
        )
        for i in intents
    ]
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), float(spec.get("timeout", 600)))
    Path(spec["result"]).write_text(json.dumps(last))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
