"""Monte Carlo over the curves' uncertainty: P10 / P50 / P90 of the plan's KPIs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..problem import Problem

__all__ = ["Uncertainty", "monte_carlo"]


@dataclass
class Uncertainty:
    table: pd.DataFrame  # one row per KPI: P10, P50, P90, and the plan's point value
    draws: int
    seed: int
    spreads: np.ndarray
    samples: pd.DataFrame  # every draw, for the chart
    goal: str = "value"
    currency: str = "EUR"
    labels: dict = None  # kpi key -> words, e.g. "outcome:awareness" -> "awareness (impressions)"


def monte_carlo(p: Problem, x: np.ndarray, low: np.ndarray, high: np.ndarray, *,
                draws: int = 2000, seed: int = 0, kpis: dict[str, str] | None = None
                ) -> Uncertainty:
    """Each line's response scaled by an independent factor, uniform in [low, high] per
    line (seeded), for a fixed plan x. Scaling the response keeps the spend, so only
    outcomes move: no re-solve."""
    rng = np.random.default_rng(seed)
    y0 = p.outcomes(x)
    factors = low + rng.uniform(0.0, 1.0, (draws, p.n)) * (high - low)
    spreads = (np.asarray(high) - np.asarray(low)) / 2
    y = factors * y0
    spend = float(x.sum())
    data: dict[str, np.ndarray] = {}
    if p.minimize_spend:
        data["objective"] = np.full(draws, -spend)
    else:
        data["objective"] = y @ p.weight - p.spend_cost * spend - p.penalty(x, y0)
    data["value"] = y @ p.value_per_outcome
    data["revenue"] = y @ p.revenue_per_outcome
    for s in dict.fromkeys(p.stages):
        m = p.mask(s) > 0
        if y0[m].sum() > 0:
            data[f"outcome:{s}"] = y[:, m].sum(axis=1)
    samples = pd.DataFrame(data)
    point = {"objective": p.objective(x, y0), "value": float(p.value_per_outcome @ y0),
             "revenue": float(p.revenue_per_outcome @ y0)}
    point.update({c: float(y0[p.mask(c.split(':', 1)[1]) > 0].sum())
                  for c in samples.columns if c.startswith("outcome:")})
    rows = [{"kpi": c, "p10": samples[c].quantile(0.1), "p50": samples[c].quantile(0.5),
             "p90": samples[c].quantile(0.9), "plan": point[c]} for c in samples.columns]
    labels = {"objective": f"objective ({p.goal})", "value": "value", "revenue": "revenue"}
    labels.update({f"outcome:{s}": f"{s} ({(kpis or {}).get(s, 'outcome')})"
                   for s in dict.fromkeys(p.stages)})
    return Uncertainty(pd.DataFrame(rows), draws, seed, spreads, samples, p.goal, p.currency,
                       labels)
