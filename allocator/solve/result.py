"""What every solver returns: the allocation with its certificate."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Solution"]


@dataclass
class Solution:
    """An allocation, its objective on exact curves, and a proven upper bound on the optimum.

    `gap` is (bound - objective) / max(|bound|, 1): the plan is at most this far below the
    best plan there is. `shadow_prices` maps a constraint's name to the objective gained per
    unit the constraint is relaxed (per currency for spend rows, per outcome for outcome rows).
    """

    x: np.ndarray
    objective: float
    bound: float
    method: str
    seconds: float = 0.0
    status: str = "optimal"
    shadow_prices: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rounds: int = 0
    problem: object | None = None  # the problem actually solved (target efficiency adds a row)
    segments: list | None = None  # the refined piecewise-linear curves: a warm start for sweeps

    @property
    def gap(self) -> float:
        """inf when no bound could be proven."""
        if not math.isfinite(self.bound):
            return math.inf
        return max(0.0, self.bound - self.objective) / max(abs(self.bound), 1.0)
