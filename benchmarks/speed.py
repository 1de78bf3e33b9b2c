"""Speed: solve time and peak memory against the number of lines.

    python benchmarks/speed.py [--quick] [--only decompose] [--million]

Concave path (water-filling): 10 to 1,000,000 lines. MILP path (S-curves): 10 to 1,000
lines. Decomposition path (S-curves with thresholds, hard stage shares, an exact budget):
100 to 100,000 lines, and with --million how far 1,000,000 gets. The 5-stage x 8-platform
scenario (S-curves, thresholds, hard guidelines), and the example scenarios end to end.
"""

from __future__ import annotations

import argparse
import resource
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
from allocator.solve.decompose import decompose  # noqa: E402
from benchmarks.common import array_problem, funnel_5x8, random_hill, staged_hill  # noqa: E402


def measure(fn):
    tracemalloc.start()
    t = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, seconds, peak / 2**20


def decomposition(quick: bool, million: bool) -> None:
    """The decomposition path (allocator/solve/decompose.py) on the issue-12 shape."""
    print("decomposition path (Hill S-curves s in 1.2-3, min_if_active on 40 % of lines, hard "
          "share bands on 5 stages, exact budget), certified to 0.1 %")
    print(f"{'lines':>9} {'seconds':>8} {'peak MiB':>9} {'gap':>9} {'status':>8} "
          f"{'repair':>6} {'passes':>7}")
    sizes = [100, 1000, 10_000] if quick else [100, 1000, 10_000, 100_000]
    if million:
        sizes.append(1_000_000)
    for n in sizes:
        p = staged_hill(n, 0)
        t = time.perf_counter()  # timed without tracemalloc, which slows numpy's allocations
        sol = decompose(p, time_limit=3600)
        sec = time.perf_counter() - t
        if n <= 100_000:  # peak of what the solve allocates (the problem's arrays aside)
            _, _, mib = measure(lambda p=p: decompose(p, time_limit=3600))
            mem = f"{mib:>9.1f}"
        else:  # the process's high-water mark, problem included
            mem = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:>8.0f}*"
        print(f"{n:>9,} {sec:>8.2f} {mem} {sol.gap:>9.2e} {sol.status:>8} "
              f"{sol.decomposition['repaired']:>6} {sol.decomposition['passes'][1]:>7}", flush=True)
    if million:
        print("  * process peak RSS (MiB), the problem's own arrays included")

    print("\ndecomposition on the MILP path's problems (budget only, s in 0.7-3)")
    print(f"{'lines':>9} {'seconds':>8} {'gap':>9} {'status':>8}")
    for n in ([10, 30, 100] if quick else [10, 30, 100, 300, 1000]):
        bank, w = random_hill(n, 0)
        p = array_problem(bank, w, 8000.0 * n)
        t = time.perf_counter()
        sol = decompose(p)
        print(f"{n:>9,} {time.perf_counter() - t:>8.3f} {sol.gap:>9.2e} {sol.status:>8}")

    print("\ndecomposition on 5 stages x 8 platforms (S-curves, thresholds, hard guidelines)")
    print(f"{'seed':>9} {'seconds':>8} {'gap':>9} {'status':>8}")
    for seed in range(3 if quick else 6):
        p = compile_problem(scenario_from_data(funnel_5x8(seed)))
        t = time.perf_counter()
        sol = decompose(p)
        print(f"{seed:>9} {time.perf_counter() - t:>8.3f} {sol.gap:>9.3%} {sol.status:>8}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--only", choices=["decompose"], help="run one section")
    ap.add_argument("--million", action="store_true",
                    help="decomposition: also 1,000,000 lines (minutes, several GB)")
    args = ap.parse_args()
    if args.only == "decompose":
        decomposition(args.quick, args.million)
        return

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

    print()
    decomposition(args.quick, args.million)

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
