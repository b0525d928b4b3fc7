"""Draw the push-latency CDF (docs/img/push_latency_cdf.png) from
bench/results/push_latency.json (and the poller_only detections)."""

from __future__ import annotations

import json
import sys

from bench.common import RESULTS, ROOT


def main() -> None:
    import matplotlib  # optional: pip install -e .[bench]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    push = json.loads((RESULTS / "push_latency.json").read_text())
    figure, axis = plt.subplots(figsize=(8, 4.5), dpi=120)
    for row in push["rows"]:
        values = sorted(v * 1000 for v in row.get("latencies_s", []))
        if not values:
            continue
        # Out of all payments: a curve that stops short of 1.0 had some still
        # queued when the window closed.
        total = max(len(values), int(row.get("payments", len(values))))
        fractions = [(i + 1) / total for i in range(len(values))]
        axis.step(
            values,
            fractions,
            where="post",
            linestyle="--" if "baseline" in row["variant"] else "-",
            label=f"{row['variant']}, {row['rate']}/s",
        )
    axis.set_xscale("log")
    axis.set_xlabel("callback sent -> subscriber holds settled PAID (ms, log scale)")
    axis.set_ylabel("fraction of all payments")
    axis.axvline(50, color="grey", linestyle=":", linewidth=1)
    axis.text(52, 0.05, "p99 target 50 ms", color="grey", fontsize=8)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, loc="lower right")
    axis.set_title("push latency, cumulative distribution")
    figure.tight_layout()
    out = ROOT / "docs" / "img" / "push_latency_cdf.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    sys.stdout.write(f"wrote {out}\n")


if __name__ == "__main__":
    main()
