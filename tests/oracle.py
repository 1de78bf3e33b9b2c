"""Independent oracles for the solver tests: a dynamic programme and a brute-force grid.

Both work on a spend grid, so the plans they find are feasible in the real problem and
their value is a lower bound on the true optimum: the solver must reach it (within its
certified gap), and its bound must lie above it.
"""

from __future__ import annotations

import itertools

import numpy as np


def dp_optimum(curves, weights, budget, lo, hi, thr, *, stage_of=None, share=None,
               max_active=None, spend_cost=0.0, exact=True, grid=400):
    """Max sum w_i f_i(x_i) - c sum x_i over a grid of budget/grid units.

    stage_of: stage index per line; share: {stage: (min, max)} of the total (exact budget);
    max_active: {stage: k} at most k lines of that stage active.
    Returns (value, x) with x on the grid.
    """
    n = len(curves)
    unit = budget / grid
    stage_of = [0] * n if stage_of is None else stage_of
    stages = sorted(set(stage_of))
    NEG = -np.inf

    def line_table(i):
        j = np.arange(grid + 1)
        x = j * unit
        ok = (x >= lo[i] - 1e-9) & (x <= hi[i] + 1e-9) & ((x == 0) | (x >= thr[i] - 1e-9))
        if lo[i] > 0:
            ok &= x > 0
        val = weights[i] * curves[i].value(x) - spend_cost * x
        return np.where(ok, val, NEG)

    # per stage: best[j][k] = best value with j units and k active lines
    stage_best, stage_arg = {}, {}
    for s in stages:
        members = [i for i in range(n) if stage_of[i] == s]
        kmax = len(members)
        best = np.full((grid + 1, kmax + 1), NEG)
        best[0, 0] = 0.0
        choice = []
        for i in members:
            tab = line_table(i)
            new = np.full_like(best, NEG)
            arg = np.zeros(best.shape, dtype=int)
            for j in range(grid + 1):
                for k in range(kmax + 1):
                    # line off
                    cand_val, cand_arg = best[j, k] + (tab[0] if tab[0] > NEG else NEG), 0
                    if k > 0:
                        js = np.arange(1, j + 1)
                        vals = best[j - js, k - 1] + tab[js]
                        if len(vals):
                            m = int(np.argmax(vals))
                            if vals[m] > cand_val:
                                cand_val, cand_arg = vals[m], int(js[m])
                    new[j, k], arg[j, k] = cand_val, cand_arg
            best = new
            choice.append((i, arg))
        stage_best[s], stage_arg[s] = best, choice

    def stage_value(s, j):
        best = stage_best[s]
        k_cap = best.shape[1] - 1 if not max_active or s not in max_active else max_active[s]
        ks = best[j, : k_cap + 1]
        k = int(np.argmax(ks))
        return ks[k], k

    totals = [grid] if exact else list(range(grid + 1))
    best_val, best_alloc = NEG, None
    for total in totals:
        # DP over stages with the units used so far
        layer = {0: (0.0, [])}
        for s in stages:
            lo_s, hi_s = 0, total
            if share and s in share:
                lo_s = int(np.ceil(share[s][0] * total - 1e-9))
                hi_s = int(np.floor(share[s][1] * total + 1e-9))
            nxt = {}
            for used, (v, alloc) in layer.items():
                for j in range(lo_s, min(hi_s, total - used) + 1):
                    sv, k = stage_value(s, j)
                    if sv == NEG:
                        continue
                    key = used + j
                    if key not in nxt or v + sv > nxt[key][0]:
                        nxt[key] = (v + sv, alloc + [(s, j, k)])
            layer = nxt
        if total in layer and layer[total][0] > best_val:
            best_val, best_alloc = layer[total]
    if best_alloc is None:
        return NEG, None
    # backtrack line spends
    x = np.zeros(n)
    for s, j, k in best_alloc:
        for i, arg in reversed(stage_arg[s]):
            step = arg[j, k]
            x[i] = step * unit
            if step > 0:
                j, k = j - step, k - 1
    return best_val, x


def brute_force(objective, feasible, budget, n, *, points=121, exact=True):
    """Grid search over the first n-1 lines (the last takes the rest when exact)."""
    axis = np.linspace(0.0, budget, points)
    best, arg = -np.inf, None
    dims = n - 1 if exact else n
    for combo in itertools.product(axis, repeat=dims):
        x = np.array(combo)
        if exact:
            rest = budget - x.sum()
            if rest < -1e-9:
                continue
            x = np.r_[x, max(rest, 0.0)]
        elif x.sum() > budget + 1e-9:
            continue
        if feasible(x):
            v = objective(x)
            if v > best:
                best, arg = v, x
    return best, arg
