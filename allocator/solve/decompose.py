"""Decomposition for many lines: Lagrangian relaxation of the coupling rows.

The problem is a sum of one-dimensional curves under a few coupling constraints (budget,
shares, spend and outcome rows, CPA/ROAS, pools, guidelines, the target; counts of active
lines). Multipliers lam price them; each line's subproblem is then solved globally and
exactly on arrays (envelope.py), and

    g(lam) = sum_i max_x [w_i f_i(x) - c x - lam . act_i(x)] + lam . rhs

is an upper bound on the optimum for every lam of the right signs (soft rows: multipliers
bounded by their penalty; counts: a price on being active). That bound, with a safety margin
for floating point, is the certificate: valid whatever lam the method stops at.

The dual is minimised by a projected Newton method (trust region in the multipliers'
natural units, Levenberg-Marquardt damping) on its entropic smoothing
G_T(lam) = sum_i T log sum_k exp(phi_ik / T) + lam . rhs over each line's candidate spends
k, T lowered tenfold per step (G_T - g <= n T ln 5). The smoothing makes the dual twice
differentiable: its Hessian is an m x m sum of per-line terms (the spread of a line's
candidates over T, plus the curvature of its concave part), summed per coefficient pattern
(lines of a stage share one). Measured (benchmarks/dual_methods.py, 11 rows): 12-16
passes over the lines to 1e-6 of the dual optimum, against 27-32 for cutting planes with a
HiGHS LP master and in-out stabilisation and 54-63 for plain Kelley.

The softmax weights are the relaxation's plan, a convex mix per line. Lines whose mix
crosses regions (off vs. on, the convex foot of an S-curve vs. its concave part) are the
split lines; Shapley-Folkman puts at most about as many as there are coupling rows.

Primal recovery: every line is held to the region of its mix's largest weight and the same
Newton method solves that restriction, a concave problem (on the concave part the line's
argmax is unique and moves smoothly with the prices): its plan meets every row to ~1e-11.
Regions that admit no plan are mended along the direction the multipliers run off to. If
the gap is above the tolerance, moves of one to three lines are ranked by a second-order
model of the restriction (their exact Lagrangian gain minus the rows' curvature) and kept
when the re-solve confirms them; then the existing MILP (allocator.solve's) decides the
lines that are left, restricted to them and a few that absorb what they move. The plans
are checked on the exact curves (violations()) before one is returned.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..errors import InfeasibleError, SolverError
from ..problem import ActiveLimit, Problem, Row, violations
from .envelope import FOOT, HIGH, RISE, TOP, ZERO, Lines
from .polish import polish
from .result import Solution

__all__ = ["decompose", "DualModel", "recommended"]

Array = np.ndarray
_LN_K = math.log(5.0)
_WHOLE_MILP = 40  # below this many lines a repair may hand the whole problem to the MILP
_POLISH = 60  # up to this many lines an uncertified plan is polished by SLSQP (polish.py:
# dense, cubic in the lines: 25 s at 200 lines)


def recommended(p: Problem) -> tuple[str, str]:
    """How `auto` should use the decomposition on a problem that water-filling cannot take:
    ("decompose" | "try" | "milp", why). Measured on S-curves with thresholds and stage
    shares (11 coupling rows; benchmarks/quality.py and speed.py): the Lagrangian gap falls
    as lines per coupling row grow; the decomposition certifies 0.1 % in 7 of 8 problems
    from 60 lines, in 0.04-0.06 s (median), while the MILP takes 7-16 s at 50 lines and
    18-43 s at 100 (two runs on a shared 2-core machine). Below 3 lines per row the
    relaxation's gap is usually above the tolerance: the MILP."""
    if p.carry is not None:
        return "milp", ("carryover ties each line's periods together: the MILP over the "
                        "effective spend")
    d = len(p.rows) + len(p.active_limits) + (p.target is not None)
    rows = p.rows + ([p.target] if p.target is not None else [])
    hurts = any((r.sense in ("<=", "==") and np.any(r.b > 0))
                or (r.sense in (">=", "==") and np.any(r.b < 0)) for r in rows)
    off_gap = (p.threshold > 0) & (p.threshold > p.lo)  # {0} u [threshold, max]
    if p.is_concave and not off_gap.any() and not p.active_limits and not hurts:
        return "decompose", ("concave curves, no thresholds, counts or outcome caps: a convex "
                             "problem, where the Lagrangian bound is exact at any size")
    if p.n >= max(60, 6 * d):
        return "decompose", (f"{p.n} lines for {d} coupling rows: the Lagrangian bound is "
                             "tight at this size and the MILP slow")
    if p.n >= 3 * d:
        return "try", (f"{p.n} lines for {d} coupling rows: the decomposition often "
                       "certifies in a tenth of a second; the MILP if it does not")
    return "milp", f"{p.n} lines for {d} coupling rows: too few for a tight Lagrangian bound"


class DualModel:
    """The Lagrangian of a problem: lines, coupling rows and counts, evaluated on arrays."""

    def __init__(self, p: Problem):
        self.p = p
        rows = list(p.rows)
        if p.target is not None and all(r.name != p.target.name for r in rows):
            rows.append(p.target)
        self.rows: list[Row] = rows
        self.limits: list[ActiveLimit] = list(p.active_limits)
        self.lines = Lines(p)
        n = p.n
        # a row whose multiplier lowers a line's value of outcome (outcome caps, pools):
        # alpha may turn negative, and the foot of an S-curve needs its own maximum
        hurts = any((r.sense in ("<=", "==") and np.any(r.b > 0))
                    or (r.sense in (">=", "==") and np.any(r.b < 0)) for r in rows)
        weight = np.zeros(n) if p.minimize_spend else p.weight
        self.lines.allow_negative_alpha(hurts or bool(np.any(weight < 0)))
        self.n = n
        if p.minimize_spend:
            self.w, self.c = np.zeros(n), 1.0
        else:
            self.w, self.c = p.weight.astype(float), float(p.spend_cost)
        m, q = len(rows), len(self.limits)
        self.m, self.q, self.d = m, q, m + q
        # box for the multipliers: act <= rhs: lam >= 0; >=: lam <= 0; soft: |lam| <= penalty
        lo, hi = np.zeros(self.d), np.zeros(self.d)
        for j, r in enumerate(rows):
            cap = r.penalty if r.penalty else np.inf
            lo[j] = 0.0 if r.sense == "<=" else -cap
            hi[j] = 0.0 if r.sense == ">=" else cap
        hi[m:] = np.inf
        self.lo, self.hi = lo, hi
        self.rhs = np.r_[[r.rhs for r in rows], [lim.k for lim in self.limits]].astype(float)
        member = np.zeros((q, n), dtype=bool)
        for j, lim in enumerate(self.limits):
            member[j, lim.index] = True
        self.member = member
        self._patterns()

    def _patterns(self) -> None:
        """Lines share their coefficient columns (a_i, b_i, e_i) by stage or group: find
        the distinct columns once, so that prices per line are a gather and the Hessian a
        sum over a few patterns."""
        n, m, q = self.n, self.m, self.q
        rng = np.random.default_rng(12345)
        z = rng.standard_normal((3, max(self.d, 1)))
        key = np.zeros(n)
        self.has_b = np.array([bool(np.any(r.b)) for r in self.rows] + [False] * q, dtype=bool)
        for j, r in enumerate(self.rows):
            key += z[0, j] * r.a
            if self.has_b[j]:
                key += z[1, j] * r.b
        for j in range(q):
            key += z[2, m + j] * self.member[j]
        _, first, pid = np.unique(key, return_index=True, return_inverse=True)
        pid = pid.reshape(-1)

        def table(first_idx):
            Pa = np.zeros((self.d, len(first_idx)))
            Pb = np.zeros((self.d, len(first_idx)))
            Pe = np.zeros((self.d, len(first_idx)))
            for j, r in enumerate(self.rows):
                Pa[j] = r.a[first_idx]
                if self.has_b[j]:
                    Pb[j] = r.b[first_idx]
            for j in range(q):
                Pe[m + j] = self.member[j, first_idx]
            return Pa, Pb, Pe

        Pa, Pb, Pe = table(first)
        ok = all(np.array_equal(r.a, Pa[j][pid]) and
                 (not self.has_b[j] or np.array_equal(r.b, Pb[j][pid]))
                 for j, r in enumerate(self.rows))
        ok = ok and all(np.array_equal(self.member[j], Pe[m + j][pid] > 0) for j in range(q))
        if not ok:  # a hash collision: one pattern per line
            pid = np.arange(n)
            Pa, Pb, Pe = table(pid)
        self.pid, self.Pa, self.Pb, self.Pe = pid, Pa, Pb, Pe
        self.npat = Pa.shape[1]
        self.limited = self.lines.limited

    # --- evaluation ------------------------------------------------------------------------

    def prices(self, lam: Array) -> tuple[Array, Array, Array]:
        """alpha (value of a unit of outcome), beta (cost of a unit of spend), gamma (cost of
        being active) per line."""
        pid = self.pid
        alpha = self.w - (lam @ self.Pb)[pid] if self.has_b.any() else self.w.copy()
        beta = self.c + (lam @ self.Pa)[pid]
        gamma = (lam @ self.Pe)[pid] if self.q else np.zeros(self.n)
        return alpha, beta, gamma

    def evaluate(self, lam: Array, T: float, allow: Array | None = None,
                 hess: bool = True, keep: bool = False) -> Eval:
        """The dual at lam: exact per-line maxima (the bound), and with T > 0 the softmax
        mix over candidates, its moments and the smoothed function's Hessian."""
        n = self.n
        alpha, beta, gamma = self.prices(lam)
        best = np.full(n, -np.inf)  # exact per-line maximum
        lse = np.full(n, -np.inf)  # its smoothing
        slack = np.zeros(n)
        mom = np.zeros((3, n))  # E x, E f, E o
        W = np.zeros((6, n)) if hess else None  # aa ab bb ae be ee
        parts = [] if keep else None
        q = self.q
        want_f = bool(self.has_b.any())  # outcomes enter the rows' activity
        for g in self.lines.groups:
            idx = g.idx
            ng = len(idx)
            a, b = alpha[idx], beta[idx]
            c = gamma[idx] if q else None
            lim = self.limited[idx] if q else None
            cols = g.columns(a, b, None if allow is None else allow[idx])
            if not cols:
                continue
            phis, ons = [], []
            with np.errstate(invalid="ignore", over="ignore"):
                for col in cols:
                    phi = a * col.f - b * col.x
                    on = None
                    if q:
                        on = ((col.x > 0) & lim).astype(float)
                        phi = phi - c * on
                    phis.append(np.where(col.valid, phi, -np.inf))
                    ons.append(on)
            mx = phis[0].copy()
            for phi in phis[1:]:
                np.maximum(mx, phi, out=mx)
            ok = np.isfinite(mx)
            mxs = np.where(ok, mx, 0.0)
            best[idx] = mx
            # per column the lines where it carries weight: (subset or None for all, weight)
            sl = np.zeros(ng)
            ws = []
            Z = np.zeros(ng)
            for col, phi in zip(cols, phis, strict=True):
                if col.slack is not None:  # the attaining candidate's slack enters the bound
                    sl = np.where(phi == mx, np.maximum(sl, col.slack), sl)
                if T > 0:
                    with np.errstate(invalid="ignore"):
                        z = (phi - mxs) / T
                    near = z > -36.0  # exp(-36) ~ 2e-16: no weight worth computing
                    cnt = int(np.count_nonzero(near))
                    if cnt == 0:
                        ws.append(None)
                        continue
                    if cnt < 0.3 * ng:
                        sub = np.flatnonzero(near)
                        e = np.exp(z[sub])
                        Z[sub] += e
                        ws.append((sub, e))
                        continue
                    with np.errstate(under="ignore"):
                        e = np.where(near, np.exp(np.where(near, z, 0.0)), 0.0)
                else:
                    e = (phi == mx).astype(float)
                Z += e
                ws.append((None, e))
            slack[idx] = sl
            Zs = np.where(Z > 0, Z, 1.0)
            lse[idx] = mx + (T * np.log(Zs) if T > 0 else 0.0)
            ex = np.zeros(ng)
            ef = np.zeros(ng)
            eo = np.zeros(ng)
            ths = []
            for w_, col, on in zip(ws, cols, ons, strict=True):
                if w_ is None:
                    ths.append(None)
                    continue
                sub, e = w_
                if sub is None:
                    th = e / Zs
                    ex += th * col.x
                    if want_f:
                        ef += th * col.f
                    if q:
                        eo += th * on
                else:
                    th = e / Zs[sub]
                    ex[sub] += th * col.x[sub]
                    if want_f:
                        ef[sub] += th * col.f[sub]
                    if q:
                        eo[sub] += th * on[sub]
                ths.append((sub, th))
            mom[0, idx], mom[1, idx], mom[2, idx] = ex, ef, eo
            # a relative safety margin for the floating point of each line's maximum
            slack[idx] += 1e-12 * (np.abs(a * ef) + np.abs(b * ex) + np.abs(mxs))
            if hess:
                inv_t = 1.0 / T if T > 0 else 0.0
                waa = np.zeros(ng)
                wab = np.zeros(ng) if want_f else None
                wbb = np.zeros(ng) if want_f else None
                wae, wbe, wee = (np.zeros(ng) for _ in range(3)) if q else (None,) * 3
                spread = inv_t and sum(t is not None for t in ths) > 1
                for t_, col, on in zip(ths, cols, ons, strict=True):
                    if t_ is None:
                        continue
                    sub, th = t_
                    pick = (lambda v: v) if sub is None else (lambda v, s=sub: v[s])
                    tgt = slice(None) if sub is None else sub
                    if spread:
                        dx = pick(col.x) - pick(ex)
                        tdx = th * dx
                        waa[tgt] += inv_t * tdx * dx
                        if want_f:
                            df = pick(col.f) - pick(ef)
                            wab[tgt] += inv_t * tdx * df
                            wbb[tgt] += inv_t * th * df * df
                        if q:
                            do = pick(on) - pick(eo)
                            wae[tgt] += inv_t * tdx * do
                            wee[tgt] += inv_t * th * do * do
                            if want_f:
                                wbe[tgt] += inv_t * th * df * do
                    if col.curv is not None:
                        tc = th * pick(col.curv)
                        waa[tgt] += tc
                        if want_f:
                            tcf = tc * pick(col.fp)
                            wab[tgt] += tcf
                            wbb[tgt] += tcf * pick(col.fp)
                W[0, idx] = waa
                if want_f:
                    W[1, idx], W[2, idx] = wab, wbb
                if q:
                    W[3, idx], W[5, idx] = wae, wee
                    if want_f:
                        W[4, idx] = wbe
            if keep:
                full = []
                for t_ in ths:
                    if t_ is None:
                        full.append(np.zeros(ng))
                    elif t_[0] is None:
                        full.append(t_[1])
                    else:
                        z_ = np.zeros(ng)
                        z_[t_[0]] = t_[1]
                        full.append(z_)
                parts.append((g, cols, full))
        ev = Eval()
        ev.lam = lam
        ev.feasible_lines = bool(np.all(np.isfinite(best)))
        with np.errstate(invalid="ignore"):
            ev.g = float(best.sum() + lam @ self.rhs)
            ev.G = float(lse.sum() + lam @ self.rhs)
        ev.slack = float(slack.sum())
        ev.x, ev.f, ev.o = mom
        ev.best = best
        pid, npat = self.pid, self.npat
        sx = np.bincount(pid, mom[0], npat)
        sf = np.bincount(pid, mom[1], npat)
        act = self.Pa @ sx + self.Pb @ sf
        if self.q:
            act = act + self.Pe @ np.bincount(pid, mom[2], npat)
        ev.act = act
        ev.grad = self.rhs - act
        size = np.abs(self.Pa) @ np.abs(sx) + np.abs(self.Pb) @ np.abs(sf)
        if self.q:
            size = size + self.Pe @ np.bincount(pid, mom[2], npat)
        ev.size = np.maximum(np.maximum(size, np.abs(self.rhs)), 1.0)
        if hess:
            S = [np.bincount(pid, W[j], npat) for j in range(6 if self.q else 3)]
            Pa, Pb, Pe = self.Pa, self.Pb, self.Pe
            Hm = (Pa * S[0]) @ Pa.T + (Pb * S[2]) @ Pb.T
            ab = (Pa * S[1]) @ Pb.T
            Hm += ab + ab.T
            if self.q:
                ae = (Pa * S[3]) @ Pe.T
                be = (Pb * S[4]) @ Pe.T
                Hm += ae + ae.T + be + be.T + (Pe * S[5]) @ Pe.T
            ev.H = Hm
        if keep:
            ev.parts = parts
            ev.alpha, ev.beta, ev.gamma = alpha, beta, gamma
        return ev

    def scales(self, x: Array, f: Array) -> Array:
        """Each row's own size at a plan (for tolerances and regularisation)."""
        out = np.empty(self.d)
        for j, r in enumerate(self.rows):
            out[j] = max(abs(r.rhs), float(np.abs(r.a) @ np.abs(x) + np.abs(r.b) @ np.abs(f)),
                         1e-9 * (1.0 + float(np.abs(r.a) @ self.lines.H)), 1.0)
        for j, lim in enumerate(self.limits):
            out[self.m + j] = max(lim.k, 1)
        return out


class Eval:
    """One evaluation of the (smoothed) dual at lam."""

    lam: Array
    g: float  # exact dual value (the bound, before the safety margin)
    G: float  # smoothed value
    slack: float
    grad: Array
    H: Array
    x: Array
    f: Array
    o: Array
    act: Array
    size: Array  # each row's own size at the mix: sum of |terms| (or |rhs|)
    best: Array


# --- the dual: projected Newton on the smoothed function -----------------------------------


class _Newton:
    def __init__(self, model: DualModel, obj_scale: float, row_scale: Array, deadline: float):
        self.model = model
        self.S = obj_scale
        self.s = row_scale
        self.deadline = deadline
        self.passes = 0
        self.best_g = math.inf  # the tightest exact bound seen
        self.best_lam: Array | None = None
        self.mu = 1e-6

    def eval(self, lam, T, allow=None, hess=True, keep=False) -> Eval:
        self.passes += 1
        ev = self.model.evaluate(lam, T, allow, hess=hess, keep=keep)
        if allow is None and ev.feasible_lines:
            # the floating-point slack of each line's maximum, and a margin of 1e-6 of the
            # objective's size: plans that meet the rows only to the checker's tolerance
            # (1e-6 of a row's size) can be worth that much more
            bound = ev.g + ev.slack + 1e-6 * max(abs(ev.g), self.S)
            if bound < self.best_g:
                self.best_g, self.best_lam = bound, lam.copy()
        return ev

    def run(self, lam: Array, T: float, *, allow=None, stop: float, maxit: int = 60,
            resid: float | None = None, box: tuple[Array, Array] | None = None
            ) -> tuple[Eval, str]:
        """Minimise G_T from lam until the Newton decrement is below `stop` (objective
        units) and, if `resid` is given, every projected gradient component is below
        resid * row scale. Returns the last evaluation and why it stopped."""
        model = self.model
        lo, hi = (model.lo, model.hi) if box is None else box
        lam = np.clip(lam, lo, hi)
        ev = self.eval(lam, T, allow)
        if not ev.feasible_lines:
            return ev, "infeasible-lines"
        # natural curvature floor per multiplier: (row size)^2 / objective size
        floor = self.s ** 2 / self.S * 1e-9
        self.mu = 1e-8
        radius = max(1.0, float(np.max(np.abs(lam) * self.s, initial=0.0)) / self.S)
        status = "maxit"
        for _ in range(maxit):
            if time.perf_counter() > self.deadline:
                status = "time"
                break
            grad, H = ev.grad, ev.H
            at_lo = (lam <= lo) & (grad > 0)
            at_hi = (lam >= hi) & (grad < 0)
            free = ~(at_lo | at_hi)
            pg = np.where(free, grad, 0.0)
            if resid is not None and np.all(np.abs(pg) <= resid * ev.size):
                status = "converged"
                break
            if not free.any():
                status = "converged"
                break
            F = np.flatnonzero(free)
            HF = H[np.ix_(F, F)]
            diag = np.maximum(np.diag(HF), floor[F])
            sc = 1.0 / np.sqrt(diag)  # Jacobi scaling: rows come in different units
            Hs = HF * sc[:, None] * sc[None, :]
            gs = grad[F] * sc
            accepted, done = False, False
            # Levenberg-Marquardt: a failed step raises the damping, which turns the
            # Newton step toward the (scaled) steepest descent
            for _lm in range(5):
                dvec = np.zeros_like(lam)
                try:
                    dvec[F] = np.linalg.solve(Hs + self.mu * np.eye(len(F)), -gs) * sc
                except np.linalg.LinAlgError:
                    self.mu *= 100.0
                    continue
                dec = float(-grad[F] @ dvec[F])
                if dec <= 0 or not np.isfinite(dec):
                    self.mu *= 100.0
                    continue
                if resid is None and dec / 2 <= stop:
                    done = True
                    break
                # trust region in the multipliers' natural units (objective per unit of
                # row): where the smoothed dual is nearly flat (every line far from a
                # switch) the Newton step is unbounded; it grows 4x per full step instead
                size = float(np.max(np.abs(dvec) * self.s, initial=0.0)) / self.S
                if size > radius:
                    dvec *= radius / size
                    size = radius
                step = 1.0
                for _ls in range(8):
                    cand = np.clip(lam + step * dvec, lo, hi)
                    new = self.eval(cand, T, allow)
                    if new.feasible_lines and new.G <= ev.G + 1e-4 * float(grad @ (cand - lam)) \
                            + 1e-13 * abs(ev.G):
                        accepted = True
                        break
                    step *= 0.25
                if accepted:
                    break
                self.mu *= 100.0
            if done:
                status = "converged"
                break
            if not accepted:
                status = "stalled"
                break
            self.mu = max(self.mu * 0.2, 1e-12) if step == 1.0 else self.mu
            radius = radius * 4.0 if step == 1.0 and size >= radius * 0.99 else \
                max(radius if step == 1.0 else step * size, 1e-12)
            lam, ev = cand, new
            if time.perf_counter() > self.deadline:
                status = "time"
                break
            if np.any(np.abs(lam) * self.s > 1e12 * self.S):
                status = "diverging"
                break
        ev.H = ev.H  # the last Hessian
        return ev, status


# --- the solver -----------------------------------------------------------------------------


def _regions(model: DualModel, ev: Eval) -> tuple[Array, Array]:
    """From a kept evaluation: per line the region holding most of the mix, and the weight
    of everything outside it (0 for lines the relaxation does not split). Candidates at
    spend 0 count as one place whatever their column (off, a foot or a concave part that
    starts at 0): mixing them is no split."""
    n = model.n
    region = np.zeros(n, dtype=np.int16)
    outside = np.zeros(n)
    OFF = -1
    for g, cols, ths in ev.parts:
        ng = len(g.idx)
        regs = [np.broadcast_to(np.asarray(c.region), (ng,)) for c in cols]
        keys = [np.where(np.asarray(c.x) <= 0, OFF, r) for c, r in zip(cols, regs, strict=True)]
        top_mass = np.full(ng, -1.0)
        top_key = np.zeros(ng, dtype=np.int16)
        for k, col in enumerate(cols):
            mass = np.zeros(ng)
            for j in range(len(cols)):
                mass += np.where(keys[j] == keys[k], ths[j], 0.0)
            mass = np.where(col.valid, mass, -1.0)
            better = mass > top_mass
            top_mass = np.where(better, mass, top_mass)
            top_key = np.where(better, keys[k], top_key)
        # the region to hold each line to: its main place's column with the most weight
        # (for the "off" place, the ZERO column where the line has one)
        top_reg = np.zeros(ng, dtype=np.int16)
        weight = np.full(ng, -1.0)
        for k, col in enumerate(cols):
            w = np.where(col.valid & (keys[k] == top_key), ths[k], -1.0)
            w = np.where(w >= 0, w + (regs[k] == ZERO) * 2.0, w)  # prefer ZERO for "off"
            better = w > weight
            weight = np.where(better, w, weight)
            top_reg = np.where(better, regs[k], top_reg)
        foot_ok = np.zeros(ng, dtype=bool)
        for col in cols:
            if np.isscalar(col.region) and col.region == FOOT:
                foot_ok |= col.valid
        top_reg = np.where(top_reg == RISE, np.where(foot_ok, FOOT, ZERO), top_reg)
        region[g.idx] = top_reg
        outside[g.idx] = 1.0 - np.maximum(top_mass, 0.0)
    return region, outside


def _region_values(model: DualModel, lam: Array, regions_to_try) -> dict[int, Array]:
    """Per line, the Lagrangian value of its best spend within each region (-inf where the
    region is empty)."""
    out = {}
    for r in regions_to_try:
        allow = np.full(model.n, r, dtype=np.int16)
        ev = model.evaluate(lam, 0.0, allow, hess=False)
        out[r] = ev.best
    return out


def _check(model: DualModel, x: Array) -> list[str]:
    """Every hard row, line bound, threshold and count on the exact curves, vectorised
    (violations() gives the final word on the plan returned)."""
    p = model.p
    f = p.outcomes(x)
    pid, npat = model.pid, model.npat
    sx, sf = np.bincount(pid, x, npat), np.bincount(pid, f, npat)
    act = model.Pa @ sx + model.Pb @ sf
    size = np.abs(model.Pa) @ np.abs(sx) + np.abs(model.Pb) @ np.abs(sf)
    out = []
    for j, r in enumerate(model.rows):
        if r.penalty:
            continue
        v = act[j] - r.rhs
        v = abs(v) if r.sense == "==" else (max(v, 0.0) if r.sense == "<=" else max(-v, 0.0))
        if v > 0.99e-6 * max(abs(r.rhs), size[j], 1.0):
            out.append(r.name)
    tol = 0.99e-6 * np.maximum(p.hi, 1.0)
    bad = (x < p.lo - tol) | (x > p.hi + tol) | \
        ((p.threshold > 0) & (x > tol) & (x < p.threshold - tol))
    if bad.any():
        out.append(f"{int(bad.sum())} line bounds")
    if p.mroas is not None and np.any(p.mroas > 0):  # marginal ROAS floor while active
        on = (p.mroas > 0) & (x > tol)
        with np.errstate(invalid="ignore"):
            earns = p.revenue_per_outcome * p.marginals(x)
        if np.any(on & ~(earns >= p.mroas * (1 - 0.99e-6))):
            out.append("marginal ROAS")
    for lim in model.limits:  # strictly: any spend counts as active
        if int(np.count_nonzero(x[lim.index] > 0)) > lim.k:
            out.append(lim.name)
    return out


def decompose(p: Problem, *, tol: float = 1e-3, backend: str | None = None,
              time_limit: float = 120.0, warm: Solution | None = None,
              diagnose: bool = True, prices: bool = True, repair: bool = True) -> Solution:
    """Solve by Lagrangian decomposition (module docstring). Same contract as the other
    solvers: a plan meeting every hard constraint on the exact curves, its objective, a
    proven bound (the dual at the final multipliers), status "optimal" only when the gap
    is within `tol`, shadow prices per coupling row (the final multipliers).

    `repair=False` skips the repair searches (moves of single lines and pairs, the MILP on
    the split lines): a quick first attempt for `auto`, which falls back to the MILP when
    the gap stays above the tolerance. Diagnostics in `sol.decomposition`: split (lines
    the relaxation splits), repaired (lines whose region the repair decided or moved),
    passes (phase 1, total), seconds_phase1."""
    if p.carry is not None:
        raise SolverError("the decomposition needs lines that do not share curves; with "
                          "carryover across periods use --solver milp (or auto)")
    start = time.perf_counter()
    deadline = start + time_limit
    model = DualModel(p)
    n = model.n
    if not np.all(model.lines.feasible_alone):
        i = int(np.flatnonzero(~model.lines.feasible_alone)[0])
        raise InfeasibleError(f"line {p.names[i]}: its min {p.lo[i]:,.0f} (or min_if_active "
                              f"{p.threshold[i]:,.0f}) is above its max {p.hi[i]:,.0f}")
    notes: list[str] = []

    # scales: objective and rows at the start multipliers' plan
    ev0 = model.evaluate(np.zeros(model.d), 0.0, hess=False)
    reach = float(np.abs(model.w) @ np.abs(p.outcomes(model.lines.H))
                  + abs(model.c) * model.lines.H.sum())
    obj_scale = max(abs(ev0.g), float(np.abs(ev0.best).sum()) * 1e-3, 1e-6 * reach, 1.0)
    newton = _Newton(model, obj_scale, np.ones(model.d), deadline)
    # start at zero (or a previous solve's prices): the trust region below lets Newton find
    # the prices' size itself, in fewer passes than pricing the budget by bisection first
    lam = _warm_lam(model, warm)
    if lam is None:
        lam = np.zeros(model.d)
    ev = newton.eval(lam, 0.0, hess=False)
    newton.S = obj_scale = max(abs(ev.g), obj_scale)
    newton.s = ev.size

    # phase 1: the dual, smoothing lowered step by step
    tau_final = 0.02 * tol / _LN_K
    tau = 0.1
    while True:
        T = tau * obj_scale / n
        last = tau <= tau_final * 1.0001
        stop = (1e-3 * tol if last else 0.1 * tau) * obj_scale
        ev, status = newton.run(lam, T, stop=stop, maxit=80 if last else 25)
        lam = ev.lam
        if np.isfinite(ev.g) and abs(ev.g) > obj_scale:  # the objective's size, better known
            newton.S = obj_scale = abs(ev.g)
            newton.s = np.maximum(newton.s, ev.size)
        if status in ("diverging", "infeasible-lines"):
            _infeasible(model, newton, lam, diagnose)  # raises if it proves it
            notes.append("the dual's multipliers ran off without proving the scenario "
                         "infeasible: the bound is the best one seen")
            lam = newton.best_lam if newton.best_lam is not None else np.zeros(model.d)
            break
        if last or time.perf_counter() > deadline:
            break
        tau = max(tau * 0.1, tau_final)
    ev = newton.eval(lam, T, keep=True)
    bound = newton.best_g
    phase1_passes = newton.passes
    region, outside = _regions(model, ev)
    # split: the relaxation's mix puts a tenth or more of the line outside its main region
    # (the smoothing spreads a little weight onto every near tie; those are not counted)
    split = outside > 0.1
    region0 = region.copy()
    seconds1 = time.perf_counter() - start

    # phase 2: the plan within the chosen regions
    x, ev2, region = _restricted(model, newton, lam, region, T, deadline)
    best_x, best_val = None, -math.inf

    plans: list[tuple[float, Array]] = []  # every plan that passed the fast check

    # spend that violations() reads as 0 when it counts active lines: on a counted line,
    # such dust is set to 0 (if the rows still hold), so that every checker counts alike
    dust = (1e-6 * np.maximum(p.hi, 1.0)) * (model.lines.limited & model.lines.zero_ok)

    def consider(xc: Array | None) -> bool:
        nonlocal best_x, best_val
        if xc is None or not np.all(np.isfinite(xc)):
            return False
        clean = np.where(xc < dust, 0.0, xc)
        if not np.array_equal(clean, xc) and not _check(model, clean):
            xc = clean
        if _check(model, xc):
            return False
        v = p.objective(xc)
        plans.append((v, xc))
        if v > best_val:
            best_x, best_val = xc, v
            return True
        return False

    consider(x)
    if x is not None and best_x is None:
        # the regions' mix misses a row (an outcome cap binding where lines are indifferent):
        # project onto the rows on the exact curves
        consider(_project(model, x, region))
    if best_x is None and x is not None and n <= _POLISH:
        consider(polish(p, x, x > 0))
    if p.baseline is not None:
        consider(np.asarray(p.baseline, dtype=float))
    if warm is not None and len(warm.x) == n:
        consider(np.asarray(warm.x, dtype=float))
    # repair: move the lines (one, two or three at a time) that a second-order model of
    # the restricted problem says gain most, and keep a move if the re-solve confirms it
    gap_abs = tol * max(abs(bound), 1.0)
    tried: set = set()
    moves = 0
    while repair and ev2 is not None and best_x is not None and bound - best_val > gap_abs \
            and time.perf_counter() < deadline and moves < 40:
        improved = False
        for _gain, lines_, to in _proposals(model, ev2, region, tried):
            if time.perf_counter() > deadline:
                break
            tried.add((tuple(lines_), tuple(to)))
            region2 = region.copy()
            region2[lines_] = to
            x2, ev3, region2 = _restricted(model, newton, ev2.lam, region2, T, deadline, lam,
                                           attempts=2)
            if consider(x2):
                region, ev2, improved = region2, ev3, True
                moves += 1
                break
        if not improved:
            break
    # still above the tolerance: the MILP, restricted to the lines the repair looks at and
    # a few that absorb what they move, the rest held where they are. Only its plan is
    # used: the certificate stays the Lagrangian bound, computed here
    if repair and best_x is not None and bound - best_val > gap_abs and \
            (ev2 is not None or n <= _WHOLE_MILP) and time.perf_counter() < deadline - 0.5:
        pick = _repair_set(model, ev2, region, best_x, split) if ev2 is not None else \
            np.arange(n)
        xs = _milp_repair(model, best_x, pick, tol=tol, backend=backend, deadline=deadline)
        if xs is not None:
            better = consider(xs)
            region3 = model.lines.region_of(xs)
            x3, ev3, region3 = _restricted(model, newton, lam if ev2 is None else ev2.lam,
                                           region3, T, deadline, lam, attempts=2)
            if consider(x3):
                ev2, region, better = ev3, region3, True
            notes.append(f"the MILP on {len(pick)} lines ({int(split.sum())} split by the "
                         f"relaxation) {'improved the plan' if better else 'found no better'}")
    lam2 = ev2.lam if ev2 is not None else None
    if repair and best_x is not None and n <= _POLISH and \
            bound - best_val > tol * max(abs(bound), 1.0):
        consider(polish(p, best_x, best_x > 0))  # exact curves, same lines on (SLSQP)
    if repair and best_x is None and n <= _WHOLE_MILP and time.perf_counter() < deadline:
        # no plan within the regions tried (small, awkward problems): the MILP on all lines,
        # for a quarter of the time limit (callers retry with wider ceilings on failure)
        xs = _milp_repair(model, np.zeros(n) if x is None else x, np.arange(n), tol=tol,
                          backend=backend,
                          deadline=min(deadline, time.perf_counter() + 0.25 * time_limit))
        if consider(xs):
            notes.append("the decomposition's regions gave no plan; the MILP on all lines did")
    # the final word on feasibility: violations() on the exact curves, best plan first
    best_x, best_val = None, -math.inf
    for v, xc in sorted(plans, key=lambda t: -t[0]):
        if not violations(p, xc):
            best_x, best_val = xc, v
            break
    if best_x is None and plans:
        raise SolverError("internal error: the decomposition's plans pass its own check but "
                          "not violations(); please report the scenario")
    if best_x is None and diagnose and n <= _WHOLE_MILP:
        from .diagnose import conflict, explain

        found = conflict(p, backend=backend)
        if found:  # the piecewise-linear relaxation proves it: name the conflict
            raise InfeasibleError(explain(p, found))
    if best_x is None:
        # as the MILP path does: the solve() wrapper widens open ceilings on this error
        raise InfeasibleError(
            "no plan found that meets every constraint on the exact curves, although the "
            "Lagrangian relaxation has one: the scenario is at the edge of feasibility; "
            "loosen the tightest constraint a little, or try --solver milp")
    bound = max(bound, best_val)
    sol = Solution(best_x, best_val, bound, "decompose", time.perf_counter() - start,
                   rounds=newton.passes, notes=notes)
    moved = model.lines.region_of(best_x) != region0
    sol.decomposition = {  # type: ignore[attr-defined]
        "split": int(split.sum()), "repaired": int(np.sum(moved)),
        "passes": (phase1_passes, newton.passes), "seconds_phase1": seconds1}
    if prices and lam2 is not None:
        sol.shadow_prices = _prices(model, lam2, best_x)
    if sol.gap > tol:
        sol.status = "feasible"
        notes.append(
            f"certified gap {sol.gap:.3%} is above the tolerance {tol:.3%}: the bound "
            f"{bound:,.6g} is the Lagrangian dual, which with {n} lines for "
            f"{model.d} coupling rows and counts may sit that far above the true optimum "
            "(the gap shrinks as lines grow); the MILP (--solver milp) certifies small "
            "problems")
    return sol


def _warm_lam(model: DualModel, warm: Solution | None) -> Array | None:
    if warm is None or warm.method != "decompose" or not warm.shadow_prices:
        return None
    lam = np.zeros(model.d)
    for j, r in enumerate(model.rows):
        v = warm.shadow_prices.get(r.name)
        if v is not None:
            lam[j] = -v if r.sense == ">=" else v
    return np.clip(lam, model.lo, model.hi)


def _prices(model: DualModel, lam: Array, x: Array) -> dict[str, float]:
    """Shadow prices: the objective gained per unit a row is relaxed (the multipliers of
    the plan's restricted problem: on/off pattern held, as prices.py measures them), and
    for lines held at their own max, the marginal value of one more unit there."""
    p = model.p
    out = {}
    for j, r in enumerate(model.rows):
        v = float(lam[j])
        out[r.name] = -v if r.sense == ">=" else v
    alpha, beta, _ = model.prices(lam)
    own = np.array([r not in ("budget", "reach") for r in p.hi_reason], dtype=bool)
    at_cap = own & (x > 0) & (x >= p.hi * (1 - 1e-9))
    if at_cap.any():
        idx = np.flatnonzero(at_cap)
        with np.errstate(invalid="ignore"):
            d = p.marginals(x)[idx]
        gain = alpha[idx] * np.where(np.isfinite(d), d, 0.0) - beta[idx]
        for i, g in zip(idx, gain, strict=True):
            if g > 0:
                out[f"line:{p.names[i]}.max"] = float(g)
    return out


def _restricted(model: DualModel, newton: _Newton, lam: Array, region: Array, T: float,
                deadline: float, lam1: Array | None = None, attempts: int = 12):
    """Solve the problem with every line held to one region; returns the plan (or None),
    the final evaluation and the regions used.

    Hard rows get a very high price cap M (a penalty per unit of violation far above any
    price a feasible restriction needs), so the restricted dual always has a minimum.
    Multipliers at M mean regions that admit no plan (a stage with no line on, thresholds
    above a cap); they point the way: lines are moved to the regions that mend that
    direction most cheaply (by the Lagrangian at lam1) and the restriction solved again."""
    lam1 = lam if lam1 is None else lam1
    big = 1e6 * newton.S / newton.s
    lo2, hi2 = np.maximum(model.lo, -big), np.minimum(model.hi, big)
    box = (lo2, hi2)
    for _ in range(attempts):
        ev, status = newton.run(lam, T, allow=region, stop=0.0, resid=1e-11, maxit=30, box=box)
        good = ev if status == "converged" else None
        if status in ("maxit", "stalled"):
            # piecewise-linear lines make the restricted dual nearly kinked at small T:
            # approach it from smoother ones; a smoother level's mix is a plan too (the
            # regions are concave or linear), only up to n T ln 5 less good
            start = lam
            for k in (4, 3, 2, 1, 0):
                ev, status = newton.run(start, T * 10.0 ** k, allow=region, stop=0.0,
                                        resid=1e-11, maxit=30, box=box)
                if status == "infeasible-lines":
                    break
                if status == "converged":
                    good = ev
                start = ev.lam
            if good is not None and status != "converged":
                ev, status = good, "converged"
        capped = ((lo2 > model.lo) & (ev.lam <= lo2 + 1e-6 * big)) | \
            ((hi2 < model.hi) & (ev.lam >= hi2 - 1e-6 * big))
        if status != "infeasible-lines" and not capped.any():
            H = model.lines.H
            x = np.clip(ev.x, 0.0, H)
            x = np.where((x < 1e-12 * np.maximum(H, 1.0)) & model.lines.zero_ok, 0.0, x)
            return x, ev, region
        if time.perf_counter() > deadline:
            break
        moved = _mend(model, newton, ev, region, lam1, status)
        if moved is None:
            break
        region = moved
        lam = lam1.copy()
    return None, None, region


def _mend(model: DualModel, newton: _Newton, ev: Eval, region: Array, lam1: Array,
          status: str) -> Array | None:
    n = model.n
    regs = sorted({ZERO, FOOT, HIGH, TOP} | set(np.unique(region).tolist()))
    if status == "infeasible-lines":  # a region with no spend: back to the line's best
        vals = _region_values(model, lam1, regs)
        bestv, bestr = _best_region(vals, region)
        bad = ~np.isfinite(_current(vals, region, n))
        out = region.copy()
        out[bad] = bestr[bad]
        return out if bad.any() else None
    d = ev.lam / max(float(np.max(np.abs(ev.lam) * newton.s)), 1e-300)
    proof = _objective_free(model)
    u = _region_values(proof, d, regs)
    cur_u = _current(u, region, n)
    h = float(np.sum(cur_u) + d @ model.rhs)
    if not h < 0:
        return None
    vals = _region_values(model, lam1, regs)
    cur_v = _current(vals, region, n)
    gain = np.zeros(n)
    loss = np.zeros(n)
    to = region.copy()
    for r in regs:
        g = u[r] - cur_u
        better = np.isfinite(g) & (g > gain)
        gain = np.where(better, g, gain)
        loss = np.where(better, cur_v - vals[r], loss)
        to = np.where(better, r, to)
    cand = np.flatnonzero(gain > 1e-12 * abs(h))
    if not len(cand):
        return None
    order = cand[np.argsort(np.maximum(loss[cand], 0.0) / gain[cand])]
    need = np.searchsorted(np.cumsum(gain[order]), -h * (1 + 1e-6)) + 1
    take = order[: max(1, min(need, len(order)))]
    out = region.copy()
    out[take] = to[take]
    return out


def _objective_free(model: DualModel) -> DualModel:
    proof = DualModel.__new__(DualModel)
    proof.__dict__.update(model.__dict__)
    proof.w, proof.c = np.zeros(model.n), 0.0
    return proof


def _current(vals: dict[int, Array], region: Array, n: int) -> Array:
    cur = np.full(n, -np.inf)
    for r, v in vals.items():
        cur = np.where(region == r, v, cur)
    return cur


def _best_region(vals: dict[int, Array], region: Array) -> tuple[Array, Array]:
    bestv = np.full(len(region), -np.inf)
    bestr = region.copy()
    for r, v in vals.items():
        better = v > bestv
        bestv = np.where(better, v, bestv)
        bestr = np.where(better, r, bestr)
    return bestv, bestr


def _proposals(model: DualModel, ev: Eval, region: Array, tried: set, top: int = 24,
               keep: int = 4, singles: int = 6) -> list[tuple[float, list[int], list[int]]]:
    """Moves of one, two or three lines to another region, best first, by a second-order
    model of the restricted problem at its multipliers lam: a move changes the lines'
    Lagrangian value by dphi (exact, per line) and the rows by delta; the other lines take
    up delta at the cost lam . delta (in dphi) plus 1/2 delta' H^-1 delta, H being the
    restricted dual's Hessian on the rows that hold (the value function's curvature)."""
    n = model.n
    lam = ev.lam
    regs = sorted({ZERO, FOOT, HIGH, TOP} | set(np.unique(region).tolist()))
    per = {}
    for r in regs:
        e = model.evaluate(lam, 0.0, np.full(n, r, dtype=np.int16), hess=False)
        per[r] = e
    cur_v = _current({r: e.best for r, e in per.items()}, region, n)
    alt_v = np.full(n, -np.inf)
    alt_r = region.copy()
    for r, e in per.items():
        better = (region != r) & (e.best > alt_v)
        alt_v = np.where(better, e.best, alt_v)
        alt_r = np.where(better, r, alt_r)
    dphi = alt_v - cur_v
    ok = np.flatnonzero(np.isfinite(dphi))
    if not len(ok):
        return []
    cand = ok[np.argsort(-dphi[ok])[:top]]
    # per candidate: change in the rows' activity
    def moments(sel_regions, lines_):
        x = np.zeros(len(lines_))
        f = np.zeros(len(lines_))
        o = np.zeros(len(lines_))
        for r, e in per.items():
            m = sel_regions == r
            x = np.where(m, e.x[lines_], x)
            f = np.where(m, e.f[lines_], f)
            o = np.where(m, e.o[lines_], o)
        return x, f, o

    x0, f0, o0 = moments(region[cand], cand)
    x1, f1, o1 = moments(alt_r[cand], cand)
    pid = model.pid[cand]
    delta = model.Pa[:, pid] * (x1 - x0) + model.Pb[:, pid] * (f1 - f0) + \
        model.Pe[:, pid] * (o1 - o0)  # d x K
    free = (lam > model.lo) & (lam < model.hi)
    free |= (model.lo == -np.inf) & (model.hi == np.inf)
    F = np.flatnonzero(free)
    K = len(cand)
    if len(F):
        HF = ev.H[np.ix_(F, F)]
        diag = np.maximum(np.diag(HF), 1e-300)
        sc = 1.0 / np.sqrt(diag)
        M = HF * sc[:, None] * sc[None, :] + 1e-10 * np.eye(len(F))
        D = delta[F] * sc[:, None]
        with np.errstate(all="ignore"):
            try:
                Q = D.T @ np.linalg.solve(M, D)  # K x K: delta_i' H^-1 delta_j
            except np.linalg.LinAlgError:
                Q = D.T @ np.linalg.pinv(M) @ D
        Q = np.where(np.isfinite(Q), Q, 1e300)
    else:
        Q = np.zeros((K, K))
    g = dphi[cand]
    out = []
    for i in range(K):
        out.append((g[i] - 0.5 * Q[i, i], [int(cand[i])], [int(alt_r[cand[i]])]))
    ii, jj = np.triu_indices(K, 1)
    pair = g[ii] + g[jj] - 0.5 * (Q[ii, ii] + 2 * Q[ii, jj] + Q[jj, jj])
    for k in np.argsort(-pair)[:keep * 4]:
        i, j = ii[k], jj[k]
        out.append((float(pair[k]), [int(cand[i]), int(cand[j])],
                    [int(alt_r[cand[i]]), int(alt_r[cand[j]])]))
    T3 = min(K, 12)
    for i in range(T3):
        for j in range(i + 1, T3):
            for k in range(j + 1, T3):
                s = [i, j, k]
                val = g[s].sum() - 0.5 * Q[np.ix_(s, s)].sum()
                out.append((float(val), [int(cand[t]) for t in s],
                            [int(alt_r[cand[t]]) for t in s]))
    out = [o for o in out if (tuple(o[1]), tuple(o[2])) not in tried and o[0] > 0]
    out.sort(key=lambda o: -o[0])
    out = out[:keep]
    # the model is blind to kinks (a binding inequality that a move makes slack): the best
    # single moves by their exact first-order gain are tried as well, whatever it predicts
    seen = {(tuple(o[1]), tuple(o[2])) for o in out}
    for i in range(min(K, singles)):
        key = ((int(cand[i]),), (int(alt_r[cand[i]]),))
        if key not in seen and key not in tried:
            out.append((float(g[i]), list(key[0]), list(key[1])))
    return out


def _project(model: DualModel, x: Array, region: Array, iters: int = 30) -> Array | None:
    """Move the lines on their concave parts (Gauss-Newton on the exact curves, weighted by
    each line's room) until every hard row holds: the equalities and violated rows are
    brought to their right-hand side, rows that hold are left where they are."""
    p, lines = model.p, model.lines
    lo = np.maximum(lines.L, lines.infl)
    hi = lines.H
    mobile = (region == HIGH) & (hi > lo)
    if not mobile.any() or model.m == 0:
        return None
    hard = np.array([not r.penalty for r in model.rows])
    pid, npat, m = model.pid, model.npat, model.m
    Pa, Pb = model.Pa[:m], model.Pb[:m]
    x = x.copy()
    for _ in range(iters):
        f = p.outcomes(x)
        fp = p.marginals(x)
        fp = np.where(np.isfinite(fp), fp, 0.0)
        sx, sf = np.bincount(pid, x, npat), np.bincount(pid, f, npat)
        act = Pa @ sx + Pb @ sf
        size = np.maximum(np.abs(Pa) @ sx + np.abs(Pb) @ np.abs(sf), np.abs(model.rhs[:m]))
        r = act - model.rhs[:m]
        sense = [row.sense for row in model.rows]
        viol = np.array([(abs(v) if s == "==" else (max(v, 0) if s == "<=" else max(-v, 0)))
                         for v, s in zip(r, sense, strict=True)])
        if not np.any(hard & (viol > 1e-9 * np.maximum(size, 1.0))):
            return x
        # rows to move: hard equalities and violated rows (to rhs); the other hard rows
        # that sit at their rhs stay there
        at = np.abs(r) <= 1e-9 * np.maximum(size, 1.0)
        rows = np.flatnonzero(hard & ((viol > 0) | at | np.array([s == "==" for s in sense])))
        target = np.where(viol > 0, -r, 0.0)[rows]
        room = np.where(mobile, np.minimum(x - lo, hi - x) + 1e-6 * (hi - lo), 0.0)
        D = room / np.maximum(hi, 1.0)
        Ja, Jb = Pa[rows], Pb[rows]
        w0 = np.bincount(pid, D, npat)
        w1 = np.bincount(pid, D * fp, npat)
        w2 = np.bincount(pid, D * fp * fp, npat)
        M = (Ja * w0) @ Ja.T + (Ja * w1) @ Jb.T + (Jb * w1) @ Ja.T + (Jb * w2) @ Jb.T
        try:
            mu = np.linalg.lstsq(M, target, rcond=1e-12)[0]
        except np.linalg.LinAlgError:
            return None
        ga, gb = (mu @ Ja)[pid], (mu @ Jb)[pid]
        step = D * (ga + fp * gb)
        if not np.any(step):
            return None
        x = np.where(mobile, np.clip(x + step, lo, hi), x)
    return x


def _repair_set(model: DualModel, ev: Eval, region: Array, x: Array, split: Array,
                size: int = 14, absorbers: int = 8) -> Array:
    """The lines a restricted MILP should decide: those split by the relaxation and those
    the restricted prices are least sure about, plus a few lines in the middle of their
    concave part per coefficient pattern, to take up what the others move."""
    n = model.n
    if n <= min(size + absorbers, _WHOLE_MILP):
        return np.arange(n)
    lam = ev.lam
    regs = sorted({ZERO, FOOT, HIGH, TOP} | set(np.unique(region).tolist()))
    vals = _region_values(model, lam, regs)
    cur = _current(vals, region, n)
    alt = np.full(n, -np.inf)
    for r, v in vals.items():
        alt = np.where(region != r, np.maximum(alt, v), alt)
    margin = np.where(np.isfinite(alt), cur - alt, np.inf)  # small: the line could go either way
    order = np.argsort(margin)
    pick = list(np.flatnonzero(split))
    for i in order:
        if len(pick) >= size:
            break
        if np.isfinite(margin[i]) and i not in pick:
            pick.append(int(i))
    chosen = set(pick)
    L, H = model.lines.L, model.lines.H
    free = np.flatnonzero((region == HIGH) & (x > np.maximum(L, model.lines.infl) * 1.001)
                          & (x < H * 0.999))
    per_pattern: dict[int, int] = {}
    for i in free[np.argsort(-x[free])]:
        if len(chosen) >= size + absorbers:
            break
        k = int(model.pid[i])
        if per_pattern.get(k, 0) < 2 and int(i) not in chosen:
            per_pattern[k] = per_pattern.get(k, 0) + 1
            chosen.add(int(i))
    return np.array(sorted(chosen))


def _milp_repair(model: DualModel, x: Array, sub: Array, *, tol: float, backend,
                 deadline: float) -> Array | None:
    """The MILP (allocator.solve's own) over the lines `sub`, every other line held at x:
    rows keep their names with the held lines' share taken off the right-hand side, counts
    lose the held lines that are on. Returns the whole plan (None if the MILP fails). Its
    bound is not used: the certificate stays the Lagrangian dual."""
    from dataclasses import replace

    from . import _milp

    p = model.p
    n = model.n
    rest = np.ones(n, dtype=bool)
    rest[sub] = False
    y = p.outcomes(x)
    rows = []
    for r in model.rows:
        used = float(r.a[rest] @ x[rest] + r.b[rest] @ y[rest]) if rest.any() else 0.0
        rows.append(replace(r, a=r.a[sub], b=r.b[sub], rhs=r.rhs - used,
                            group=None if r.group is None else r.group[sub]))
    pos = np.full(n, -1)
    pos[sub] = np.arange(len(sub))
    limits = []
    for lim in model.limits:
        on_rest = int(np.sum(x[lim.index][rest[lim.index]] > 0))
        inside = pos[lim.index]
        inside = inside[inside >= 0]
        if len(inside):
            limits.append(ActiveLimit(lim.name, inside, max(lim.k - on_rest, 0), lim.text))
    from ..curves import CurveBank

    def cut(a):
        return None if a is None else np.asarray(a)[sub]

    q = replace(p, names=[p.names[i] for i in sub], stages=[p.stages[i] for i in sub],
                platforms=[p.platforms[i] for i in sub],
                bank=CurveBank.from_curves([p.curve(int(i)) for i in sub]),
                lo=p.lo[sub], hi=p.hi[sub], line_max=p.line_max[sub],
                hi_reason=[p.hi_reason[i] for i in sub], threshold=p.threshold[sub],
                weight=p.weight[sub], rows=rows, active_limits=limits,
                value_per_outcome=p.value_per_outcome[sub],
                revenue_per_outcome=p.revenue_per_outcome[sub], baseline=x[sub].copy(),
                mroas=cut(p.mroas), target=None, point_from_plan=False)
    left = deadline - time.perf_counter()
    try:
        sol = _milp(q, tol=tol / 2, backend=backend, time_limit=max(left, 1.0), warm=None,
                    diagnose=False, prices=False)
    except Exception:  # noqa: BLE001 - the repair is an attempt; the plan in hand stands
        return None
    out = x.copy()
    out[sub] = sol.x
    return out


def _infeasible(model: DualModel, newton: _Newton, lam: Array, diagnose: bool) -> None:
    """The dual falls without bound along lam. If the direction proves it (the rows'
    Lagrangian without the objective is negative there: no plan can meet them), raise with
    the rows it needs: a deletion filter over the direction's rows, one pass each."""
    p = model.p
    d = lam / max(float(np.max(np.abs(lam) * newton.s)), 1e-300)
    proof = _objective_free(model)
    soft = np.array([bool(r.penalty) for r in model.rows] + [False] * model.q)
    d = np.where(soft, 0.0, d)

    def proves(direction: Array) -> bool:
        ev = proof.evaluate(direction, 0.0, hess=False)
        scale = float(np.abs(direction) @ newton.s)
        return not ev.feasible_lines or ev.g + ev.slack + 1e-9 * scale < -1e-9 * scale

    if not proves(d):
        return
    keep = np.abs(d) * newton.s > 1e-9
    for _ in range(2):  # drop what the proof does not need (twice: the order matters)
        for j in np.flatnonzero(keep):
            trial = np.where(np.arange(len(d)) == j, 0.0, d)
            if np.any(trial) and proves(trial):
                d, keep[j] = trial, False
    if diagnose and p.n <= _WHOLE_MILP:  # small: the MILP-based diagnosis names them all
        from .diagnose import conflict, explain

        raise InfeasibleError(explain(p, conflict(p)))
    units = [(model.rows[j].text, model.rows[j].name) if j < model.m else
             (model.limits[j - model.m].text, model.limits[j - model.m].name)
             for j in np.flatnonzero(keep)]
    lines = "\n".join(f"  - {text}  [{name}]" for text, name in units)
    raise InfeasibleError("no plan satisfies the scenario. These constraints cannot all hold "
                          "together with the lines' own bounds (proven by their Lagrange "
                          f"multipliers); loosen or drop one of them:\n{lines}")
