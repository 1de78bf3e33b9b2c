"""Speed: solve time and peak memory against the number of lines.

    python benchmarks/speed.py [--quick]

Concave path (water-filling): 10 to 1,000,000 lines. MILP path (S-curves): 10 to 1,000
lines. The 5-stage x 8-platform scenario (S-curves, thresholds, hard guidelines), and the
example scenarios end to end.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from allocator.curves import CurveBank  # noqa: E402
from allocator.plan import plan_scenario  # noqa: E402
from allocator.problem import compile_problem  # noqa: E402
from allocator.scenario import load_scenario, scenario_from_data  # noqa: E402
from allocator.solve import solve  # noqa: E402
from benchmarks.common import array_problem, funnel_5x8, random_hill  # noqa: E402


def measure(fn):
    tracemalloc.start()
    t = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, seconds, peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    args = ap.parse_args()

    print("concave path (water-filling, exponential and power curves, exact budget)")
    print(f"{'lines':>9} {'seconds':>8} {'peak MiB':>9} {'gap':>9}")
    sizes = [10, 1000, 100_000] if args.quick else [10, 100, 1000, 10_000, 100_000, 1_000_000]
    for n in sizes:
        rng = np.random.default_rng(0)
        half = n // 2
        from allocator.curves import _PARAMS  # noqa: F401 - documents the families used
        bank = CurveBank(n, [
            ("exponential", np.arange(half), {"vmax": rng.uniform(500, 5000, half),
                                              "k": rng.uniform(2000, 30000, half)}),
            ("power", np.arange(half, n), {"a": rng.uniform(5, 50, n - half),
                                           "b": rng.uniform(0.3, 0.9, n - half)}),
        ])
        p = array_problem(bank, rng.uniform(0.5, 3, n), 8000.0 * n)
        sol, sec, mib = measure(lambda p=p: solve(p, method="waterfill"))
        print(f"{n:>9,} {sec:>8.3f} {mib:>9.1f} {sol.gap:>9.1e}")

    print("\nMILP path (Hill S-curves, s in 0.7-3, exact budget), certified to 0.1 %")
    print(f"{'lines':>9} {'seconds':>8} {'peak MiB':>9} {'gap':>9} {'rounds':>6}")
    for n in ([10, 30, 100] if args.quick else [10, 30, 100, 300, 1000]):
        bank, w = random_hill(n, 0)
        p = array_problem(bank, w, 8000.0 * n)
        sol, sec, mib = measure(lambda p=p: solve(p, time_limit=600))
        print(f"{n:>9,} {sec:>8.2f} {mib:>9.1f} {sol.gap:>9.3%} {sol.rounds:>6}")

    print("\n5 stages x 8 platforms: S-curves, learning-phase thresholds, hard guidelines")
    print(f"{'seed':>9} {'seconds':>8} {'gap':>9} {'rounds':>6}")
    times = []
    for seed in range(3 if args.quick else 6):
        p = compile_problem(scenario_from_data(funnel_5x8(seed)))
        t = time.perf_counter()
        sol = solve(p)
        times.append(time.perf_counter() - t)
        print(f"{seed:>9} {times[-1]:>8.2f} {sol.gap:>9.3%} {sol.rounds:>6}")
    print(f"{'median':>9} {np.median(times):>8.2f}")

    print("\nexample scenarios, load + compile + solve + tables")
    for path in sorted((ROOT / "scenarios").glob("*.*")):
        if path.suffix not in (".yaml", ".toml"):
            continue
        t = time.perf_counter()
        plan = plan_scenario(load_scenario(path))
        print(f"{path.name:>28} {time.perf_counter() - t:>6.2f} s  gap "
              f"{plan.solution.gap:.3%}  {plan.solution.method}")


if __name__ == "__main__":
    main()
