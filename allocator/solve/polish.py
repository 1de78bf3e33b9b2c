"""Local polish on the exact curves: SLSQP from a MILP plan, with its on/off pattern fixed.

The MILP works on chords; the polish moves spend within the chosen lines so that the
exact curves' objective is as high as it gets and every constraint holds on them exactly.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import minimize

from ..problem import Problem

__all__ = ["polish"]


def polish(p: Problem, x0: np.ndarray, active: np.ndarray,
           deadline: float | None = None) -> np.ndarray | None:
    """The best nearby plan on exact curves with the same active lines, or None on failure.

    `deadline` (time.perf_counter()): SLSQP stops at its first iteration past it, with the
    point it has (checked like any other plan by the caller)."""
    idx = np.flatnonzero(active | (p.lo > 0))
    if len(idx) == 0:
        return None
    lb = np.maximum(p.lo[idx], p.threshold[idx])
    ub = np.maximum(p.hi[idx], lb)
    scale = np.maximum(ub, 1.0)
    carry = p.carry is not None  # then every curve may feel the chosen lines' spend
    rows = [r for r in p.rows if np.any(r.a[idx]) or np.any(r.b[idx] if not carry else r.b)
            or r.rhs]
    soft = [j for j, r in enumerate(rows) if r.penalty]
    n_s = len(soft)
    y0 = p.outcomes(x0)
    obj_scale = max(abs(p.objective(x0, y0)), 1.0)
    row_scale = [r.scale(x0, y0) for r in rows]

    def slopes(x: np.ndarray) -> np.ndarray:
        d = p.marginals(x)
        return np.where(np.isfinite(d), d, 1e12)  # power curves are vertical at zero

    def pull(v: np.ndarray, x: np.ndarray, d: np.ndarray) -> np.ndarray:
        """d(v @ y)/dx on the chosen lines."""
        return p.pullback(v, x, d)[idx]

    def full(u: np.ndarray) -> np.ndarray:
        x = np.zeros(p.n)
        x[idx] = u[: len(idx)] * scale
        return x

    def fun(u):
        x = full(u)
        s = u[len(idx):] * obj_scale
        pen = sum(rows[j].penalty * s[k] for k, j in enumerate(soft))
        if p.minimize_spend:
            val = -x.sum() - pen
        else:
            val = float(p.weight @ p.outcomes(x)) - p.spend_cost * x.sum() - pen
        return -val / obj_scale

    def grad(u):
        x = full(u)
        g = np.zeros(len(u))
        if p.minimize_spend:
            g[: len(idx)] = -scale
        else:
            g[: len(idx)] = (pull(p.weight, x, slopes(x)) - p.spend_cost) * scale
        for k, j in enumerate(soft):
            g[len(idx) + k] = -rows[j].penalty * obj_scale
        return -g / obj_scale

    # the rows as matrices, each signed so that >= 0 holds and divided by its own scale
    sign = np.array([-1.0 if r.sense == "<=" else 1.0 for r in rows]) / np.array(row_scale)
    A = np.array([r.a for r in rows]).reshape(len(rows), p.n)
    B = np.array([r.b for r in rows]).reshape(len(rows), p.n)
    rhs = np.array([r.rhs for r in rows])
    slack = np.zeros((len(rows), n_s))  # a soft row's slack loosens it
    for k, j in enumerate(soft):
        slack[j, k] = obj_scale / row_scale[j]
    B_used = np.any(B != 0, axis=0)

    def cons(u):
        x = full(u)
        y = p.outcomes(x)
        return sign * (A @ x + B @ y - rhs) + slack @ u[len(idx):]

    def cons_jac(u):
        x = full(u)
        d = np.where(B_used, slopes(x), 0.0)
        db = B * d  # d(B y)/de, then through the carryover to the spend
        jx = A[:, idx] + (db[:, idx] if not carry else (p.carry.T @ db.T).T[:, idx])
        return np.hstack([sign[:, None] * jx * scale, slack])

    u0 = np.r_[np.clip(x0[idx], lb, ub) / scale, np.zeros(n_s)]
    if n_s:  # start the slacks where the start point needs them
        start = cons(u0)
        for k, j in enumerate(soft):
            u0[len(idx) + k] = max(0.0, -start[j]) * row_scale[j] / obj_scale
    bounds = [(lo / s, hi / s) for lo, hi, s in zip(lb, ub, scale, strict=True)]
    bounds += [(0.0, None)] * n_s
    eq = np.array([r.sense == "==" for r in rows], dtype=bool)
    constraints = []
    if np.any(eq):
        constraints.append({"type": "eq", "fun": lambda u: cons(u)[eq],
                            "jac": lambda u: cons_jac(u)[eq]})
    if np.any(~eq):
        constraints.append({"type": "ineq", "fun": lambda u: cons(u)[~eq],
                            "jac": lambda u: cons_jac(u)[~eq]})
    try:
        res = minimize(fun, u0, jac=grad, bounds=bounds, constraints=constraints,
                       method="SLSQP", options={"maxiter": 300, "ftol": 1e-12},
                       callback=None if deadline is None else _stop_after(deadline))
    except (ValueError, np.linalg.LinAlgError):
        return None
    x = full(np.clip(res.x, [b[0] for b in bounds], [b[1] if b[1] is not None else np.inf
                                                        for b in bounds]))
    return x if np.all(np.isfinite(x)) else None


def _stop_after(deadline: float):
    def callback(*_args) -> None:
        if time.perf_counter() > deadline:
            raise StopIteration  # SciPy ends the run with the current point
    return callback
