"""A load-generator process for settle_throughput: settleInvoice(CASH) with a
new idempotency key each, `concurrency` requests in flight, for `seconds`.

    python -m bench.load spec.json   -> prints {"done": n, "errors": e, "seconds": s}
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import httpx

SETTLE = (
    "mutation($input: SettleInvoiceInput!) { settleInvoice(input: $input) "
    "{ alreadySettled errors { code } payment { id } } }"
)


async def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    invoices: list[str] = spec["invoices"]
    deadline = time.monotonic() + float(spec["seconds"])
    counts = {"done": 0, "errors": 0}
    limits = httpx.Limits(max_connections=spec["concurrency"])
    headers = {"Authorization": f"Bearer {spec['token']}"}
    async with httpx.AsyncClient(
        base_url=spec["url"], headers=headers, limits=limits, timeout=30
    ) as client:

        async def worker(index: int) -> None:
            invoice = invoices[index % len(invoices)]
            while time.monotonic() < deadline:
                response = await client.post(
                    "/graphql",
                    json={
                        "query": SETTLE,
                        "variables": {
                            "input": {
                                "invoiceId": invoice,
                                "method": "CASH",
                                "amount": "1.00",
                                "idempotencyKey": uuid.uuid4().hex,
                            }
                        },
                    },
                )
                body = response.json()
                if (
                    response.status_code != 200
                    or body["data"]["settleInvoice"]["errors"]
                ):
                    counts["errors"] += 1
                else:
                    counts["done"] += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(spec["concurrency"])))
        elapsed = time.monotonic() - started
    sys.stdout.write(json.dumps({**counts, "seconds": elapsed}) + "\n")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
