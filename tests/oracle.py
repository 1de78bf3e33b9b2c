"""Independent oracles for the solver tests: a dynamic programme, a brute-force grid, and a
grid search with local moves over whole scenarios (`scenario_grid`, `best_feasible`,
`local_search`, checked by tests/checks.py's Checker).

All work on plans they check themselves, so the plans they find are feasible in the real
problem and their value is a lower bound on the true optimum: the solver must reach it
(within its certified gap), and its bound must lie above it.
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


# --- a generic grid oracle over whole scenarios -----------------------------------------------
#
# Works on the scenario through the independent checker (tests/checks.py): every plan it
# returns meets every hard constraint there (strictly: rel 1e-9), so its value is a lower
# bound on the true optimum, whatever the scenario's curves, constraints and objective.


def _upper(chk, i: int, known: list[np.ndarray]) -> float:
    """A spend beyond which line i is not worth looking: the budget, or without one the
    spend that meets the largest outcome floor on its own / reaches its saturation."""
    sc = chk.sc
    line = sc.lines[i]
    top = np.inf if line.max is None else float(line.max)
    if sc.budget is not None and sc.budget.max is not None:
        return min(top, float(sc.budget.max))
    crv = chk.curves[i]
    cands = [float(x[i]) * 1.5 for x in known if x is not None and np.isfinite(x[i])]
    for c in sc.constraints:
        if c.outcome is not None and c.outcome.min is not None and c.select.matches(line):
            cands.append(crv.spend_for(c.outcome.min, hi=1e15))
    if np.isfinite(crv.saturation):
        cands.append(crv.spend_for(0.999 * crv.saturation, hi=1e15))
    cands = [v for v in cands if np.isfinite(v) and v > 0]
    up = max(cands) if cands else 1.0
    return min(top, max(up, float(line.min_if_active or 0.0), float(line.min)))


def line_grid(chk, i: int, upper: float, k: int, extra: list[float]) -> np.ndarray:
    line = chk.sc.lines[i]
    lo = max(float(line.min), 0.0)
    hi = max(upper, lo)
    thr = float(line.min_if_active or 0.0)
    special = [lo, hi, *chk.curves[i].kinks, *extra]
    if thr:
        special.append(thr)
    pts = np.r_[np.linspace(lo, hi, max(k, 2)),
                hi * np.geomspace(1e-3, 1.0, max(k // 3, 1)), special]
    if lo == 0:
        pts = np.r_[0.0, pts]
    pts = pts[np.isfinite(pts) & (pts >= lo) & (pts <= hi)]
    if thr:
        pts = pts[(pts == 0) | (pts >= thr)]
    return np.unique(pts)


def _product(grids: list[np.ndarray], limit: int = 10**7) -> np.ndarray:
    """Every combination of the grids' points, or `limit` random ones when there are more."""
    if float(np.prod([float(len(g)) for g in grids])) > limit:
        rng = np.random.default_rng(len(grids))
        return np.stack([g[rng.integers(len(g), size=limit)] for g in grids], axis=1)
    mesh = np.meshgrid(*grids, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def scenario_grid(chk, *, total: float | None = None, limit: int = 150_000,
                  extra: list[np.ndarray] | None = None) -> np.ndarray:
    """Candidate plans: a grid per line; where the total is fixed (an exact budget, or
    `total`), each line in turn takes what the others leave, and free totals are searched
    too (with the budget's ends) otherwise."""
    sc = chk.sc
    n = chk.n
    known = [x for x in (extra or []) if x is not None]
    if total is None and sc.budget is not None and sc.budget.exact:
        total = float(sc.budget.max)
    ups = []
    for i in range(n):
        u = _upper(chk, i, known)
        if total is not None:
            u = min(u, total)
        ups.append(u)
    pts_extra = [[float(x[i]) for x in known] for i in range(n)]
    totals = [total] if total is not None else []
    if total is None and sc.budget is not None:
        totals = [float(v) for v in (sc.budget.max, sc.budget.min) if v is not None and v > 0]
    plans = []
    free_dims = n if total is None else 0

    def build(k: int):
        grids = [line_grid(chk, i, ups[i], k, pts_extra[i]) for i in range(n)]
        sizes = np.array([len(g) for g in grids], dtype=float)
        free = float(np.prod(sizes)) if free_dims else 0.0
        rem = sum(float(np.prod(np.delete(sizes, r))) for r in range(n)) * len(totals)
        return grids, free + rem

    lo_k, hi_k = 2, 400  # the finest grid within the limit, by bisection on its size
    grids, size = build(hi_k)
    if size > limit:
        while hi_k - lo_k > 1:
            mid = (lo_k + hi_k) // 2
            if build(mid)[1] <= limit:
                lo_k = mid
            else:
                hi_k = mid
        grids, size = build(lo_k)
    share = max(1, limit // max(1, (1 if free_dims else 0) + n * len(totals)))
    if free_dims:
        plans.append(_product(grids, share))
    for t in totals:
        for r in range(n):
            others = [g for j, g in enumerate(grids) if j != r]
            Z = _product(others, share) if others else np.zeros((1, 0))
            rest = t - Z.sum(axis=1)
            keep = rest >= -1e-9 * max(t, 1.0)
            X = np.insert(Z[keep], r, np.maximum(rest[keep], 0.0), axis=1)
            plans.append(X)
    plans += [np.atleast_2d(x) for x in known]
    return np.vstack(plans) if plans else np.zeros((0, n))


def best_feasible(chk, X: np.ndarray, rel: float = 1e-9, chunk: int = 50_000):
    """(value, plan) of the best plan among the rows of X that meets every hard constraint;
    (-inf, None) when none does."""
    best, arg = -np.inf, None
    for s in range(0, len(X), chunk):
        part = X[s:s + chunk].copy()
        # dust (a spend within the checker's tolerance) counts as off for thresholds and
        # counts, so it must not buy outcome either: it is set to 0
        dust = 2 * rel * np.maximum(part.sum(axis=1, keepdims=True), 1.0)
        part[part <= dust] = 0.0
        ok = chk.feasible(part, rel)
        if not ok.any():
            continue
        vals = np.where(ok, chk.objective(part), -np.inf)
        j = int(np.argmax(vals))
        if vals[j] > best:
            best, arg = float(vals[j]), part[j].copy()
    return best, arg


def _moves(x: np.ndarray, thr: np.ndarray, total_fixed: bool) -> np.ndarray:
    """Plans one move away from x: spend moved between two lines (by fractions of the total
    and of the giving line, all of it, or up to the taker's threshold); single lines up,
    down, off or at their threshold and everything scaled, when the total is free."""
    n = len(x)
    steps = np.array([0.5, 0.2, 0.05, 0.01, 1e-3, 1e-4, 1e-5])
    scale = max(float(x.sum()), float(np.max(x)), 1e-12)
    out = []
    if n > 1:
        give, take = np.nonzero(~np.eye(n, dtype=bool))
        amt = np.concatenate([np.broadcast_to(steps * scale, (len(give), len(steps))),
                              steps[None, :] * x[give][:, None], x[give][:, None],
                              np.maximum(thr[take] - x[take], 0.0)[:, None]], axis=1)
        p, a = np.nonzero((amt > 0) & (amt <= x[give][:, None]))
        Y = np.repeat(x[None, :], len(p), axis=0)
        rows = np.arange(len(p))
        Y[rows, give[p]] -= amt[p, a]
        Y[rows, take[p]] += amt[p, a]
        out.append(Y)
    if not total_fixed:
        for i in range(n):
            vals = np.r_[x[i] + steps * scale, x[i] - steps * scale, x[i] * (1 + steps),
                         x[i] * (1 - steps), 0.0, thr[i]]
            vals = vals[vals >= 0]
            Y = np.repeat(x[None, :], len(vals), axis=0)
            Y[:, i] = vals
            out.append(Y)
        out.append(x[None, :] * (1.0 + np.r_[steps, -steps])[:, None])
    return np.vstack(out) if out else np.zeros((0, n))


def local_search(chk, x0: np.ndarray, *, total_fixed: bool, rounds: int = 60,
                 rel: float = 1e-9):
    """Improve a feasible plan by single moves on the exact curves (`_moves`) while any
    helps. Returns (value, plan) of the best plan reached, (-inf, None) if x0 is infeasible."""
    x = np.asarray(x0, dtype=float)
    if not chk.feasible(x[None, :], rel)[0]:
        return -np.inf, None
    val = float(chk.objective(x[None, :])[0])
    for _ in range(rounds):
        C = _moves(x, chk.thr, total_fixed)
        if not len(C):
            break
        v, y = best_feasible(chk, C, rel)
        if y is None or v <= val + 1e-12 * max(abs(val), 1.0):
            break
        val, x = v, y
    return val, x
