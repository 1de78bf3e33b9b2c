"""How long a large scenario file takes to load and validate (YAML and TOML).

Writes a valid scenario of about 50 MB (100,000 budget lines, a few dozen fields each, in
the block style planners write) into a temporary folder and prints the load + validate time
of each format, wall clock and CPU (the figure to compare on a busy machine). Not a timed
test: run it by hand.

    python -m benchmarks.big_scenario [--lines 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from allocator.scenario import load_scenario

PLATFORMS = ["meta", "instagram", "tiktok", "youtube", "linkedin", "pinterest"]
STAGES = ["awareness", "consideration", "conversion"]


def _line(i: int) -> dict:
    stage, platform = STAGES[i % 3], PLATFORMS[i % len(PLATFORMS)]
    return {"name": f"line-{i:06d}", "stage": stage, "platform": platform,
            "market": f"market-{i % 250:03d}", "period": f"2027-{1 + i % 12:02d}",
            "vmax": 1000.0 + i % 997, "k": 5000.0 + 7 * (i % 331), "s": 1.0 + (i % 5) / 10,
            "max": 50000.0 + i % 1000, "baseline": 2000.0 + i % 500,
            "value": round(0.5 + (i % 100) / 50, 4)}


def yaml_text(n: int) -> str:
    out = [f"name: big scenario ({n:,} lines)", "description: a generated scenario to time "
           "loading and validation", "currency: EUR", f"budget: {200.0 * n:.0f}",
           f"stages: [{', '.join(STAGES)}]", f"platforms: [{', '.join(PLATFORMS)}]", "lines:"]
    for i in range(n):
        d = _line(i)
        out.append(
            f"  # {d['platform']} {d['stage']} in {d['market']}, month {d['period']}: "
            "fitted from last year's exports (R2 0.9, saturation identified), cap agreed "
            "with the platform team\n"
            f"  - name: {d['name']}\n    stage: {d['stage']}\n    platform: {d['platform']}\n"
            f"    market: {d['market']}\n    period: '{d['period']}'\n"
            f"    curve:\n      type: hill\n      vmax: {d['vmax']}\n      k: {d['k']}\n"
            f"      s: {d['s']}\n      low: 0.9\n      high: 1.1\n"
            f"    value_per_outcome: {d['value']}\n    revenue_per_outcome: {d['value'] * 20}\n"
            f"    min: 0\n    max: {d['max']}\n    min_if_active: 500\n"
            f"    baseline: {d['baseline']}")
    return "\n".join(out) + "\n"


def toml_text(n: int) -> str:
    out = [f'name = "big scenario ({n:,} lines)"', 'currency = "EUR"',
           f"budget = {200.0 * n:.0f}", f"stages = {STAGES!r}".replace("'", '"'),
           f"platforms = {PLATFORMS!r}".replace("'", '"')]
    for i in range(n):
        d = _line(i)
        out.append(
            f'\n# {d["platform"]} {d["stage"]} in {d["market"]}, month {d["period"]}\n'
            f'[[lines]]\nname = "{d["name"]}"\nstage = "{d["stage"]}"\n'
            f'platform = "{d["platform"]}"\nmarket = "{d["market"]}"\n'
            f'period = "{d["period"]}"\nvalue_per_outcome = {d["value"]}\n'
            f'revenue_per_outcome = {d["value"] * 20}\nmin = 0\nmax = {d["max"]}\n'
            f'min_if_active = 500\nbaseline = {d["baseline"]}\n'
            f'curve = {{ type = "hill", vmax = {d["vmax"]}, k = {d["k"]}, s = {d["s"]}, '
            f'low = 0.9, high = 1.1 }}')
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, make in ((".yaml", yaml_text), (".toml", toml_text)):
            path = Path(tmp) / f"big{suffix}"
            path.write_text(make(args.lines), encoding="utf-8")
            start, cpu = time.perf_counter(), time.process_time()
            sc = load_scenario(path)
            took, cpu = time.perf_counter() - start, time.process_time() - cpu
            size = path.stat().st_size / 1e6
            print(f"{suffix[1:]:>4}: {size:5.1f} MB, {len(sc.lines):,} lines: "
                  f"load + validate {took:5.1f} s ({cpu:.1f} s CPU)")


if __name__ == "__main__":
    main()
