"""Monte Carlo of re-optimised plans: N draws (each line's response scaled by a seeded factor
in its range, the plan re-solved warm-started from the base plan) in a plain loop in one
process, then on a dask LocalCluster; times, and a check that the numbers are identical.

    python benchmarks/montecarlo.py [--scenario scenarios/minimal.toml] [--draws 10000]
                                    [--workers 2] [--scheduler ADDRESS]

The default scenario, minimal.toml (two concave lines, exact water-filling, a few ms per
solve), makes 10,000 draws take a minute; d2c_ecommerce.yaml (12 lines, S-curves, MILP,
about 0.3-0.9 s per solve here) is for a few hundred draws (--draws 100).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from allocator.analysis import pool  # noqa: E402
from allocator.analysis.suite import line_ranges  # noqa: E402
from allocator.analysis.uncertainty import _reoptimise, start_reoptimised  # noqa: E402
from allocator.plan import plan_scenario  # noqa: E402
from allocator.scenario import load_scenario  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "minimal.toml")
    ap.add_argument("--draws", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scheduler", default=None,
                    help="a running cluster's address instead of a new LocalCluster")
    args = ap.parse_args()

    sc = load_scenario(args.scenario)
    plan = plan_scenario(sc)
    p, base = plan.solution.problem, plan.solution
    low, high = line_ranges(sc, 0.2)
    print(f"{args.scenario.name}: {p.n} lines, solver {base.method}; {args.draws:,} draws, "
          f"seed {args.seed}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    # 1. a plain loop in this process: one draw after the other, BLAS on one thread as in
    # every task of every executor (its thread count moves the MILP path's last bits)
    from threadpoolctl import threadpool_limits

    t = time.perf_counter()
    c = time.process_time()
    rows = []
    with threadpool_limits(1, user_api="blas"):
        for k in range(args.draws):
            rows += _reoptimise([k], p, base, low, high, args.seed, 1e-3)
    loop = time.perf_counter() - t
    loop_cpu = time.process_time() - c
    # the same rows through the analysis' own table (in-process executor)
    with pool.executor("in-process"):
        local = start_reoptimised(p, base, low, high, draws=args.draws, seed=args.seed).result()
    assert np.array_equal(np.array(rows)[:, 0], local.samples["objective"].to_numpy(),
                          equal_nan=True), "the loop and the executor's tasks differ"
    print(f"  plain loop, 1 process:   {loop:8.1f} s  ({1e3 * loop / args.draws:.2f} ms a draw, "
          f"CPU {loop_cpu:.1f} s)")

    # 2. a LocalCluster (or the given cluster)
    from distributed import Client, LocalCluster

    t = time.perf_counter()
    if args.scheduler:
        cluster, client = None, Client(args.scheduler)
        where = args.scheduler
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
        where = f"LocalCluster, {args.workers} workers"
    client.run(lambda: __import__("allocator.solve"))  # workers ready to solve
    started = time.perf_counter() - t
    cpu0 = client.run(time.process_time)
    t = time.perf_counter()
    with pool.executor(client):
        remote = start_reoptimised(p, base, low, high, draws=args.draws,
                                   seed=args.seed).result()
    run = time.perf_counter() - t
    cpu1 = client.run(time.process_time)
    worker_cpu = sum(cpu1[w] - cpu0[w] for w in cpu1 if w in cpu0)
    t = time.perf_counter()
    client.close()
    if cluster is not None:
        cluster.close()
    closed = time.perf_counter() - t
    total = started + run + closed
    print(f"  {where}: {run:8.1f} s of draws; {started:.1f} s to start and import, "
          f"{closed:.1f} s to close: {total:.1f} s in all")
    print(f"  speed-up: {loop / run:.2f}x on the draws, {loop / total:.2f}x with start and close")
    print(f"  CPU the machine gave: the loop {loop_cpu / loop:.2f} of a core; the workers "
          f"{worker_cpu / run:.2f} cores between them ({worker_cpu:.1f} s of CPU)")

    pd.testing.assert_frame_equal(local.samples, remote.samples, check_exact=True)
    pd.testing.assert_frame_equal(local.table, remote.table, check_exact=True)
    pd.testing.assert_frame_equal(local.spend, remote.spend, check_exact=True)
    print("  identical: every draw's objective, gap, spend and outcome, bit for bit")
    t = local.table.set_index("kpi")
    print(f"  optimal objective P10 / P50 / P90: {t.loc['objective', 'p10']:,.0f} / "
          f"{t.loc['objective', 'p50']:,.0f} / {t.loc['objective', 'p90']:,.0f} "
          f"(the plan: {t.loc['objective', 'plan']:,.0f}); infeasible draws: "
          f"{local.infeasible}")


if __name__ == "__main__":
    main()
