"""Shared helpers for the benchmarks: random problems built straight from arrays."""

from __future__ import annotations

import numpy as np

from allocator.curves import CurveBank
from allocator.problem import Problem, _budget_rows


def array_problem(bank: CurveBank, weight: np.ndarray, budget: float,
                  hi: np.ndarray | None = None, threshold: np.ndarray | None = None,
                  stages: list[str] | None = None, rows: list | None = None) -> Problem:
    """A Problem without a scenario file: for sizes no planner would type."""
    n = len(bank)
    hi = np.full(n, budget) if hi is None else hi
    return Problem(
        names=[f"l{i}" for i in range(n)], stages=stages or ["awareness"] * n,
        platforms=["p"] * n, bank=bank, lo=np.zeros(n), hi=hi, line_max=hi.copy(),
        hi_reason=["max"] * n, threshold=np.zeros(n) if threshold is None else threshold,
        weight=weight, spend_cost=0.0, minimize_spend=False,
        rows=_budget_rows(n, budget, budget, "EUR") + (rows or []), active_limits=[],
        value_per_outcome=weight, revenue_per_outcome=weight, baseline=None,
        budget_lo=budget, budget_hi=budget)


def random_hill(n: int, seed: int, s_range=(0.7, 3.0)) -> tuple[CurveBank, np.ndarray]:
    rng = np.random.default_rng(seed)
    bank = CurveBank.from_arrays("hill", vmax=rng.uniform(500, 5000, n),
                                 k=rng.uniform(2000, 30000, n), s=rng.uniform(*s_range, n))
    return bank, rng.uniform(0.5, 3.0, n)


def dp_budget_only(bank: CurveBank, weight: np.ndarray, budget: float, grid: int = 1000):
    """Exact optimum on a grid of budget/grid units (the oracle): O(n grid^2), vectorised."""
    units = np.arange(grid + 1) * (budget / grid)
    best = np.full(grid + 1, -np.inf)
    best[0] = 0.0
    for i in range(len(bank)):
        vals = weight[i] * bank[i].value(units)
        # new[j] = max_s best[j - s] + vals[s]
        j = np.arange(grid + 1)[:, None]
        s = np.arange(grid + 1)[None, :]
        cand = np.where(s <= j, best[np.clip(j - s, 0, grid)] + vals[s], -np.inf)
        best = cand.max(axis=1)
    return float(best[grid])


STAGES = ["awareness", "consideration", "conversion", "loyalty", "advocacy"]
PLATFORMS = ["meta", "instagram", "tiktok", "youtube", "linkedin", "x", "reddit", "pinterest"]


def funnel_5x8(seed: int = 0, guidelines: str = "hard") -> dict:
    """A 5-stage x 8-platform scenario with S-curves, learning-phase thresholds and the
    guideline splits: the workshop-sized case of the targets."""
    rng = np.random.default_rng(seed)
    value = {"awareness": 0.006, "consideration": 0.4, "conversion": 55.0, "loyalty": 40.0,
             "advocacy": 30.0}
    scale = {"awareness": 2e6, "consideration": 2e4, "conversion": 500, "loyalty": 300,
             "advocacy": 150}
    lines = []
    for stage in STAGES:
        for platform in PLATFORMS:
            line = {"name": f"{platform}-{stage}", "stage": stage, "platform": platform,
                    "value_per_outcome": value[stage],
                    "curve": {"type": "hill", "vmax": float(scale[stage] * rng.uniform(0.5, 2)),
                              "k": float(rng.uniform(8000, 40000)),
                              "s": float(rng.uniform(0.8, 2.5))}}
            if stage in ("conversion", "loyalty", "advocacy"):
                line["min_if_active"] = float(rng.choice([3000, 5000, 8000]))
            lines.append(line)
    return {
        "name": "5 x 8 benchmark", "budget": 400_000, "stages": STAGES,
        "platforms": PLATFORMS, "lines": lines,
        "guidelines": {"preset": "paid-social-funnel", "enforce": guidelines,
                       **({"penalty_per_point": 500} if guidelines == "soft" else {})},
        "objective": "value",
    }


# --- decomposition benchmarks: S-curves, thresholds, stage shares, an exact budget ---------

STAGE_SHARES = {"awareness": (0.30, 0.50), "consideration": (0.15, 0.30),
                "conversion": (0.15, 0.35), "loyalty": (0.05, 0.20), "advocacy": (0.02, 0.10)}


def staged_hill(n: int, seed: int, *, per_line: float = 8000.0, s_range=(1.2, 3.0),
                threshold_share: float = 0.4, shares: dict | None = None) -> Problem:
    """n Hill S-curve lines (s > 1) over the five stages, min_if_active thresholds on about
    `threshold_share` of them, hard stage share bands and an exact budget of per_line * n:
    the shape of the issue-12 targets, built straight from arrays."""
    from allocator.problem import Row

    rng = np.random.default_rng(seed)
    stages = [STAGES[i % len(STAGES)] for i in range(n)]
    k = rng.uniform(2000, 30000, n)
    bank = CurveBank.from_arrays("hill", vmax=rng.uniform(500, 5000, n), k=k,
                                 s=rng.uniform(*s_range, n))
    weight = rng.uniform(0.5, 3.0, n)
    budget = per_line * n
    thr = np.where(rng.random(n) < threshold_share, np.round(rng.uniform(0.2, 0.8, n) * k, -2),
                   0.0)
    stage_arr = np.array(stages)
    rows = []
    total = np.ones(n)
    zeros = np.zeros(n)
    for stage, (lo, hi) in (STAGE_SHARES if shares is None else shares).items():
        m = (stage_arr == stage).astype(float)
        rows.append(Row(f"share[stage={stage}].min", "share", m - lo * total, zeros, ">=", 0.0,
                        f"{stage} >= {lo:.0%} of total spend"))
        rows.append(Row(f"share[stage={stage}].max", "share", m - hi * total, zeros, "<=", 0.0,
                        f"{stage} <= {hi:.0%} of total spend"))
    return array_problem(bank, weight, budget, threshold=thr, stages=stages, rows=rows)


def dp_staged(p: Problem, shares: dict | None = None, grid: int = 1000) -> float:
    """The DP oracle for staged_hill problems: the exact optimum on a grid of budget/grid
    units (budget, stage shares, thresholds), vectorised per line: O(n grid^2)."""
    budget = p.budget_hi
    unit = budget / grid
    units = np.arange(grid + 1) * unit
    j = np.arange(grid + 1)[:, None]
    s = np.arange(grid + 1)[None, :]
    stage_best = {}
    for stage in (STAGE_SHARES if shares is None else shares):
        best = np.full(grid + 1, -np.inf)
        best[0] = 0.0
        for i in [i for i in range(p.n) if p.stages[i] == stage]:
            ok = (units <= p.hi[i] + 1e-9) & ((units == 0) | (units >= p.threshold[i] - 1e-9))
            vals = np.where(ok, p.weight[i] * p.curve(i).value(units), -np.inf)
            cand = np.where(s <= j, best[np.clip(j - s, 0, grid)] + vals[s], -np.inf)
            best = cand.max(axis=1)
        stage_best[stage] = best
    layer = np.full(grid + 1, -np.inf)
    layer[0] = 0.0
    for stage, (lo, hi) in (STAGE_SHARES if shares is None else shares).items():
        sb = stage_best[stage].copy()
        use = np.arange(grid + 1)
        sb[(use < np.ceil(lo * grid - 1e-9)) | (use > np.floor(hi * grid + 1e-9))] = -np.inf
        layer = np.where(s <= j, layer[np.clip(j - s, 0, grid)] + sb[s], -np.inf).max(axis=1)
    return float(layer[grid])
