"""The benchmark command runs end to end at a tiny size (no assertion on timings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ROWS = (
    "floor",
    "ours (c=4, 0 ms)",
    "naive (dicts, dlt defaults)",
    "ours (c=1, 200 ms, n=400)",
    "ours (c=5, 200 ms, n=400)",
    "ours (c=5, 200 ms, n=400, uneven ids)",
    "ours memory (c=4, n=600)",
    "ours memory (c=4, n=1,200)",
)
RATIOS = (
    "ours_over_floor",
    "ours_over_naive",
    "concurrency_5_over_1_at_200ms",
    "errors_66_at_200ms",
    "uneven_over_even_ids_at_c5",
    "request_overhead",
    "rss_big_over_small",
)


def test_benchmark_prints_every_row_and_writes_every_ratio(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    command = [
        sys.executable, "-m", "benchmarks.run", "--opportunities", "600",
        "--latency-opportunities", "400", "--memory", "--memory-sizes", "600,1200",
        "--json", str(out),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = {line.split(" | ")[0].strip() for line in done.stdout.splitlines() if " | " in line}
    for row in (*ROWS, *RATIOS):
        assert row in table, f"{row!r} missing from:\n{done.stdout}"
    payload = json.loads(out.read_text())
    for name in RATIOS:
        ratio = payload["ratios"][name]
        assert ratio["value"] is not None, name
        assert {"target", "met", "verdict"} <= ratio.keys()
    for case in payload["cases"].values():
        assert case["opportunities"] > 0 and case["requests"] > 0 and case["peak_rss_mb"] > 0
    assert payload["cases"]["ours"]["exit_code"] == 0, payload["cases"]["ours"]["message"]
    for key in ("ours", "latency_c1", "latency_c5"):
        case = payload["cases"][key]
        assert 0 < case["fetching"] < case["seconds"], "fetching ends before the load does"
    assert "fetching alone" in payload["ratios"]["concurrency_5_over_1_at_200ms"]["note"]
