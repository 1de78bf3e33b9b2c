"""Quality: our certified plan against the DP oracle and against SLSQP from an equal split
(the method of Robyn / Meridian / PyMC-Marketing's optimisers), on seeded random S-curve
problems with a fixed budget.

    python benchmarks/quality.py [--sizes 5,10,20,50,100,200] [--seeds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from allocator.solve import solve  # noqa: E402
from benchmarks.common import array_problem, dp_budget_only, random_hill  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="5,10,20,50,100,200")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    print(f"{'lines':>5} {'seed':>4} {'ours':>12} {'gap':>7} {'DP oracle':>12} "
          f"{'ours-DP':>8} {'SLSQP':>12} {'SLSQP-ours':>10} {'t ours':>7} {'t SLSQP':>7}")
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
            rel_dp = (sol.objective - oracle) / oracle
            rel_sl = (slsqp - sol.objective) / sol.objective
            worse.append(rel_sl)
            print(f"{n:>5} {seed:>4} {sol.objective:>12,.1f} {sol.gap:>7.3%} {oracle:>12,.1f} "
                  f"{rel_dp:>+8.3%} {slsqp:>12,.1f} {rel_sl:>+10.2%} {t_ours:>6.2f}s "
                  f"{t_slsqp:>6.2f}s")
    worse = np.array(worse)
    print(f"\nSLSQP from an equal split is below our certified plan in {np.sum(worse < -1e-4)} of "
          f"{len(worse)} problems; median shortfall {np.median(worse):+.2%}, "
          f"worst {worse.min():+.2%}")


if __name__ == "__main__":
    main()
