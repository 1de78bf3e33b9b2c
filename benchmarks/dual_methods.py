"""Which method minimises the Lagrangian dual: the measurement behind decompose.py's choice.

    python benchmarks/dual_methods.py [--sizes 1000,10000] [--seeds 2]

The same dual g(lam) (exact per-line maxima, allocator/solve/decompose.py's DualModel) on
the issue-12 problems (S-curves, thresholds, stage shares, exact budget: 11 coupling rows),
minimised by

* Kelley's cutting planes with a HiGHS LP master (highspy directly): the dual of
  Dantzig-Wolfe column generation with one aggregated column per pass;
* the same with in-out stabilisation (Wentges: query 0.5 between the best point and the
  master's), the usual cure for Kelley's zig-zag;
* the projected Newton method on the entropic smoothing that decompose.py uses.

Reported: passes over the lines (one vectorised evaluation of every line's subproblem, the
unit that scales with n) until the best dual value found is within eps of the best any
method reached, and the seconds per pass (Newton's include its Hessian).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import highspy
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from allocator.solve.decompose import DualModel, _Newton  # noqa: E402
from allocator.solve.milp import _silence_highs_banner  # noqa: E402
from benchmarks.common import staged_hill  # noqa: E402


class Counted:
    """The dual, counting passes and recording the best value after each."""

    def __init__(self, model: DualModel):
        self.model = model
        self.trace: list[float] = []

    def evaluate(self, lam, T=0.0, allow=None, hess=False, keep=False):
        ev = self.model.evaluate(lam, T, allow, hess=hess, keep=keep)
        g = ev.g if np.isfinite(ev.g) else math.inf
        self.trace.append(min(g, self.trace[-1]) if self.trace else g)
        return ev

    def __getattr__(self, name):
        return getattr(self.model, name)


def kelley(model, lam0: np.ndarray, scale_obj: float, scale_rows: np.ndarray,
           *, stabilise: bool, passes: int) -> None:
    """Cutting planes: min z s.t. z >= g_k + s_k (lam - lam_k), lam in the multipliers'
    box (capped at 1e4 natural units where it is open)."""
    d = model.d
    cap = 1e4 * scale_obj / scale_rows
    lo = np.maximum(model.lo, -cap)
    hi = np.minimum(model.hi, cap)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    for j in range(d):
        h.addVar(float(lo[j]), float(hi[j]))
    h.addVar(-inf, inf)  # z
    cost = np.zeros(d + 1)
    cost[d] = 1.0
    h.changeColsCost(d + 1, np.arange(d + 1, dtype=np.int32), cost)
    best_g, best_lam = math.inf, lam0.copy()
    query = lam0.copy()
    idx = np.arange(d + 1, dtype=np.int32)
    for _ in range(passes):
        ev = model.evaluate(query, 0.0, hess=False)
        g, sub = ev.g, ev.grad  # g is convex in lam, grad = rhs - act a subgradient
        if g < best_g:
            best_g, best_lam = g, query.copy()
        h.addRow(float(g - sub @ query), inf, d + 1, idx, np.r_[-sub, 1.0])
        h.run()
        col = np.array(h.getSolution().col_value)
        lam_m = col[:d]
        query = 0.5 * best_lam + 0.5 * lam_m if stabilise else lam_m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--passes", type=int, default=300, help="cutting-plane passes allowed")
    args = ap.parse_args()
    _silence_highs_banner()
    levels = (1e-3, 1e-4, 1e-5, 1e-6)
    print("passes over the lines until the best dual value is within eps of the optimum "
          "(- = not within the pass budget)")
    print(f"{'lines':>7} {'seed':>4} {'method':>22} " +
          " ".join(f"{'eps ' + format(e, '.0e'):>10}" for e in levels) + f" {'s/pass':>7}")
    for n in map(int, args.sizes.split(",")):
        for seed in range(args.seeds):
            p = staged_hill(n, seed)
            model = DualModel(p)
            lam0 = np.zeros(model.d)  # where decompose.py starts
            ev = model.evaluate(lam0, 0.0, hess=False)
            S, s = max(abs(ev.g), 1.0), ev.size
            runs = {}
            for name, stab in (("Kelley (HiGHS LP)", False), ("Kelley + in-out", True)):
                c = Counted(model)
                t = time.perf_counter()
                kelley(c, lam0, S, s, stabilise=stab, passes=args.passes)
                runs[name] = (c.trace, (time.perf_counter() - t) / len(c.trace))
            # decompose.py's phase 1: smoothing lowered 10x per step, Newton at each level
            c = Counted(model)
            newton = _Newton(c, S, s, time.perf_counter() + 3600)
            t = time.perf_counter()
            lam, tau = lam0.copy(), 0.1
            while True:
                T = tau * S / n
                last = tau <= 1e-7
                ev_, _ = newton.run(lam, T, stop=(1e-9 if last else 0.1 * tau) * S, maxit=80)
                lam = ev_.lam
                if last:
                    break
                tau = max(tau * 0.1, 1e-7)
            runs["smoothed Newton"] = (c.trace, (time.perf_counter() - t) / len(c.trace))
            best = min(min(tr) for tr, _ in runs.values())
            for name, (tr, per) in runs.items():
                tr = np.array(tr)
                cells = []
                for e in levels:
                    ok = np.flatnonzero(tr - best <= e * abs(best))
                    cells.append(f"{ok[0] + 1:>10}" if len(ok) else f"{'-':>10}")
                print(f"{n:>7,} {seed:>4} {name:>22} " + " ".join(cells) + f" {per:>7.4f}",
                      flush=True)


if __name__ == "__main__":
    main()
