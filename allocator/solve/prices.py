"""Shadow prices: what relaxing each binding constraint by one unit is worth.

Measured on the exact curves: the constraint is loosened a little, the plan re-polished
with the same lines on, and the gain divided by the step. That is the Lagrange multiplier
of the local optimum, in the objective's units per unit of the constraint (per currency for
budget and spend rows, per outcome for outcome rows).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..problem import Problem, violations
from .polish import polish

__all__ = ["binding", "shadow_prices"]


def binding(p: Problem, x: np.ndarray, rel: float = 1e-6) -> list[str]:
    """Names of the hard rows and line ceilings the plan sits on."""
    y = p.outcomes(x)
    out = []
    for r in p.rows:
        if r.penalty:
            continue
        if abs(r.lhs(x, y) - r.rhs) <= 1e3 * rel * r.scale(x, y):
            out.append(r.name)
    for i in range(p.n):
        # a line that may not spend at all (off in a period, after the plan) binds nothing
        if p.hi_reason[i] not in ("budget", "reach") and p.hi[i] > 0 and \
                x[i] >= p.hi[i] * (1 - 1e3 * rel):
            out.append(f"line:{p.names[i]}.max")
    return out


def _gain(p: Problem, relaxed: Problem, x: np.ndarray, base: float) -> float | None:
    moved = polish(relaxed, x, x > 0)
    if moved is None or violations(relaxed, moved):
        return None
    return relaxed.objective(moved) - base


def shadow_prices(p: Problem, x: np.ndarray) -> dict[str, float]:
    base = p.objective(x)
    prices: dict[str, float] = {}
    names = binding(p, x)
    equal = {r.name for r in p.rows if r.sense == "=="}
    for name in names:
        if name.startswith("line:"):
            i = p.names.index(name[5:-4])
            step = max(1e-4 * p.hi[i], 1e-3)
            hi = p.hi.copy()
            hi[i] += step
            relaxed = replace(p, hi=hi)
        else:
            row = next(r for r in p.rows if r.name == name)
            step = max(1e-4 * row.scale(x, p.outcomes(x)), 1e-3)
            rows = [replace(r, rhs=r.rhs + (-step if r.sense == ">=" else step))
                    if r.name == name else r for r in p.rows]
            relaxed = replace(p, rows=rows)
        gain = _gain(p, relaxed, x, base)
        if gain is not None:  # an equality may cost when moved: keep its sign
            prices[name] = (gain if name in equal else max(gain, 0.0)) / step
    return prices
