"""Quality: our certified plan against the DP oracle and against SLSQP from an equal split
(the method of Robyn / Meridian / PyMC-Marketing's optimisers), on seeded random S-curve
problems with a fixed budget; then the decomposition against the MILP and the DP oracle on
S-curves with thresholds, stage shares and an exact budget, up to 1,000 lines.

    python benchmarks/quality.py [--sizes 5,10,20,50,100,200] [--seeds 3]
                                 [--decompose-sizes 20,50,100,200,500,1000]
                                 [--milp-max 100] [--milp-time 120] [--only decompose]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from allocator.problem import violations  # noqa: E402
from allocator.solve import solve  # noqa: E402
from allocator.solve.decompose import decompose  # noqa: E402
from benchmarks.common import (  # noqa: E402
    array_problem,
    dp_budget_only,
    dp_staged,
    random_hill,
    staged_hill,
)


def slsqp_equal_split(bank, weight, budget):
    n = len(bank)
    x0 = np.full(n, budget / n)
    res = minimize(lambda x: -float(weight @ bank.value(x)), x0,
                   jac=lambda x: -weight * np.where(np.isfinite(bank.derivative(x)),
                                                    bank.derivative(x), 1e12),
                   bounds=[(0, budget)] * n, method="SLSQP",
                   constraints=[{"type": "eq", "fun": lambda x: x.sum() - budget,
                                 "jac": lambda x: np.ones(n)}],
                   options={"maxiter": 500, "ftol": 1e-12})
    x = np.clip(res.x, 0, budget)
    x *= budget / x.sum()
    return float(weight @ bank.value(x))


def decomposition(sizes: list[int], seeds: int, milp_max: int, milp_time: float) -> None:
    """Decomposition vs the MILP vs the DP oracle (budget, five stage share bands,
    min_if_active thresholds on a grid of budget/grid units)."""
    print("decomposition vs MILP vs DP oracle: Hill S-curves, thresholds, stage shares, "
          "exact budget")
    print(f"{'lines':>5} {'seed':>4} {'decompose':>12} {'gap':>8} {'t':>6} {'dec-DP':>8} "
          f"{'bound-DP':>8} {'MILP':>12} {'gap':>8} {'t':>7} {'dec-MILP':>9}")
    rows = []
    for n in sizes:
        for seed in range(seeds):
            p = staged_hill(n, seed)
            t = time.perf_counter()
            d = decompose(p)
            t_d = time.perf_counter() - t
            assert not violations(p, d.x)
            # a grid unit of budget / grid: finer for many lines, where 1,000 units would be
            # one average line's spend each (the oracle's plans get coarse, not wrong)
            oracle = dp_staged(p, grid=1000 if n <= 200 else 2500)
            m_obj, m_gap, t_m = float("nan"), float("nan"), float("nan")
            if n <= milp_max:
                t = time.perf_counter()
                m = solve(p, method="milp", time_limit=milp_time)
                t_m = time.perf_counter() - t
                m_obj, m_gap = m.objective, m.gap
            rows.append((n, d.gap, (d.objective - oracle) / oracle, (d.bound - oracle) / oracle,
                         (d.objective - m_obj) / m_obj))
            print(f"{n:>5} {seed:>4} {d.objective:>12,.1f} {d.gap:>8.3%} {t_d:>5.2f}s "
                  f"{(d.objective - oracle) / oracle:>+8.3%} {(d.bound - oracle) / oracle:>+8.3%} "
                  f"{m_obj:>12,.1f} {m_gap:>8.3%} {t_m:>6.1f}s "
                  f"{(d.objective - m_obj) / m_obj:>+9.3%}", flush=True)
    r = np.array(rows)
    print(f"\nbound below the DP oracle: {int(np.sum(r[:, 3] < -1e-9))} of {len(r)}; "
          f"certified (gap <= 0.1 %): {int(np.sum(r[:, 1] <= 1e-3))} of {len(r)}; "
          f"below the MILP's plan by more than the tolerance: "
          f"{int(np.sum(r[:, 4] < -1e-3))} of {int(np.sum(np.isfinite(r[:, 4])))}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="5,10,20,50,100,200")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--decompose-sizes", default="20,50,100,200,500,1000")
    ap.add_argument("--milp-max", type=int, default=100,
                    help="largest size the MILP is run on in the decomposition table")
    ap.add_argument("--milp-time", type=float, default=120.0)
    ap.add_argument("--only", choices=["decompose"])
    args = ap.parse_args()
    if args.only != "decompose":
        budget_only(args)
        print()
    decomposition([int(s) for s in args.decompose_sizes.split(",")], args.seeds,
                  args.milp_max, args.milp_time)


def budget_only(args) -> None:
    print(f"{'lines':>5} {'seed':>4} {'ours':>12} {'gap':>7} {'DP oracle':>12} "
          f"{'ours-DP':>8} {'SLSQP':>12} {'SLSQP-ours':>10} {'t ours':>7} {'t SLSQP':>7} "
          f"{'decomp-DP':>9} {'gap':>7} {'t dec':>6}")
    worse = []
    for n in map(int, args.sizes.split(",")):
        for seed in range(args.seeds):
            bank, w = random_hill(n, seed)
            budget = 8000.0 * n
            p = array_problem(bank, w, budget)
            t = time.perf_counter()
            sol = solve(p)
            t_ours = time.perf_counter() - t
            oracle = dp_budget_only(bank, w, budget, grid=1000 if n <= 50 else 2000)
            t = time.perf_counter()
            slsqp = slsqp_equal_split(bank, w, budget)
            t_slsqp = time.perf_counter() - t
            t = time.perf_counter()
            dec = decompose(p)
            t_dec = time.perf_counter() - t
            rel_dp = (sol.objective - oracle) / oracle
            rel_sl = (slsqp - sol.objective) / sol.objective
            worse.append(rel_sl)
            print(f"{n:>5} {seed:>4} {sol.objective:>12,.1f} {sol.gap:>7.3%} {oracle:>12,.1f} "
                  f"{rel_dp:>+8.3%} {slsqp:>12,.1f} {rel_sl:>+10.2%} {t_ours:>6.2f}s "
                  f"{t_slsqp:>6.2f}s {(dec.objective - oracle) / oracle:>+9.3%} "
                  f"{dec.gap:>7.3%} {t_dec:>5.2f}s", flush=True)
    worse = np.array(worse)
    print(f"\nSLSQP from an equal split is below our certified plan in {np.sum(worse < -1e-4)} of "
          f"{len(worse)} problems; median shortfall {np.median(worse):+.2%}, "
          f"worst {worse.min():+.2%}")


if __name__ == "__main__":
    main()
