"""Fitting a line's response curve to its history: every family of the curves module by
bounded, robust least squares (scipy), the family chosen on held-out periods, fit quality,
the spend range the data covers, and a block bootstrap for the curve's plausible band.

Parameters are fitted in logs (they stay positive) on residuals relative to the mean
outcome, with a soft-L1 loss so that a day of tracking trouble does not bend the curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from .. import curves as cv
from .mapping import LineSeries
from .readers import ExportError

__all__ = ["Fit", "fit_line", "FAMILIES", "MIN_POINTS"]

MIN_POINTS = 20  # periods with spend: fewer cannot tell a slope from noise
FOLDS = 5  # contiguous blocks held out in turn to choose the family
BAND = (2.5, 97.5)  # percentiles of the bootstrap: a 95 % band
RIVAL = 1.05  # families within 5 % of the best held-out error share the band


def _hill(x, p):
    return cv.hill_value(x, math.exp(p[0]), math.exp(p[1]), p[2])


def _exponential(x, p):
    return cv.exponential_value(x, math.exp(p[0]), math.exp(p[1]))


def _power(x, p):
    return cv.power_value(x, math.exp(p[0]), p[1])


def _log(x, p):
    return cv.log_value(x, math.exp(p[0]), math.exp(p[1]))


# family -> (value function, lower bounds, upper bounds, number of parameters)
FAMILIES = {
    "hill": (_hill, [-np.inf, -np.inf, 0.5], [np.inf, np.inf, 3.0]),
    "exponential": (_exponential, [-np.inf, -np.inf], [np.inf, np.inf]),
    "power": (_power, [-np.inf, 0.05], [np.inf, 1.0]),
    "log": (_log, [-np.inf, -np.inf], [np.inf, np.inf]),
}


def _starts(family: str, x: np.ndarray, y: np.ndarray) -> list[list[float]]:
    xm, ym = float(np.median(x[x > 0])), float(np.max(y))
    lx, ly = math.log(max(xm, 1e-9)), math.log(max(ym, 1e-9))
    if family == "hill":
        return [[ly + 0.7, lx, 1.0], [ly + 1.5, lx + 0.7, 1.0], [ly + 0.3, lx, 2.0]]
    if family == "exponential":
        return [[ly + 0.5, lx], [ly + 1.5, lx + 1.0]]
    if family == "power":
        ratio = float(np.mean(y) / max(np.mean(x) ** 0.6, 1e-12))
        return [[math.log(max(ratio, 1e-12)), 0.6]]
    return [[ly, lx], [ly + 1.0, lx + 1.0]]


def _fit(family: str, x: np.ndarray, y: np.ndarray, starts: list[list[float]]) -> np.ndarray:
    fn, lo, hi = FAMILIES[family]
    scale = max(float(np.mean(y)), 1e-12)

    def residual(p):
        with np.errstate(over="ignore", invalid="ignore"):
            r = (fn(x, p) - y) / scale
        return np.nan_to_num(r, nan=1e6, posinf=1e6, neginf=-1e6)

    best, cost = None, math.inf
    for p0 in starts:
        p0 = np.clip(p0, np.array(lo) + 1e-9, np.array(hi) - 1e-9)
        res = least_squares(residual, p0, bounds=(lo, hi), loss="soft_l1", f_scale=0.2,
                            max_nfev=200, x_scale="jac")
        if res.cost < cost:
            best, cost = res.x, res.cost
    return best


def curve_of(family: str, p: np.ndarray) -> cv.Curve:
    if family == "hill":
        return cv.Hill(math.exp(p[0]), math.exp(p[1]), float(p[2]))
    if family == "exponential":
        return cv.Exponential(math.exp(p[0]), math.exp(p[1]))
    if family == "power":
        return cv.Power(math.exp(p[0]), float(p[1]))
    return cv.Log(math.exp(p[0]), math.exp(p[1]))


def _quality(pred: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    pos = y > 0
    mape = float(np.mean(np.abs(pred[pos] - y[pos]) / y[pos])) if pos.any() else float("nan")
    return r2, mape


@dataclass
class Fit:
    series: LineSeries
    family: str
    curve: cv.Curve  # per period (day or week), in the export's currency
    r2: float
    mape: float
    held_out: dict[str, float]  # family -> held-out MAPE
    spend_min: float  # the spend range the data covers (per period, 5th-95th percentile)
    spend_max: float
    spend_peak: float  # the highest spend seen in one period
    grid: np.ndarray  # spend per period where the band is given
    band_lo: np.ndarray
    band_hi: np.ndarray
    low: float  # plausible response factors over the observed range (from the band)
    high: float
    identified: bool  # the data varied enough to show saturation
    warnings: list[str] = field(default_factory=list)

    def value(self, x):
        return self.curve.value(x)


def fit_line(series: LineSeries, *, families: tuple[str, ...] = tuple(FAMILIES),
             bootstrap: int = 60, seed: int = 0) -> Fit:
    """Fit one line; raises ExportError when the data cannot carry a curve."""
    x, y = series.spend, series.outcome
    name = series.name
    active = x > 0
    if int(active.sum()) < MIN_POINTS:
        raise ExportError([f"line {name}: {int(active.sum())} periods with spend; a curve "
                           f"needs at least {MIN_POINTS} (e.g. {MIN_POINTS} days): export a "
                           "longer range"])
    x, y = x[active], y[active]
    lo_q, hi_q = np.percentile(x, [5, 95])
    if np.std(x) <= 0.01 * np.mean(x) or len(np.unique(np.round(x, 2))) < 3:
        raise ExportError([f"line {name}: spend never varies (about {np.mean(x):,.2f} every "
                           "period): a response curve needs different spend levels; vary the "
                           "budget for a few weeks, or give this line's curve by hand"])
    warnings = []
    identified = hi_q / max(lo_q, 1e-12) >= 1.5
    if not identified:
        warnings.append(f"spend hardly varied ({lo_q:,.0f} to {hi_q:,.0f} per period): the "
                        "data cannot identify saturation; the curve is a local slope and "
                        "its band is wide beyond that range")

    fits = {f: _fit(f, x, y, _starts(f, x, y)) for f in families}
    # the family that predicts held-out blocks of periods best
    folds = np.array_split(np.arange(len(x)), FOLDS)
    held: dict[str, float] = {}
    for f in families:
        errs = []
        for idx in folds:
            train = np.ones(len(x), dtype=bool)
            train[idx] = False
            p = _fit(f, x[train], y[train], [fits[f]])
            fn = FAMILIES[f][0]
            pos = y[idx] > 0
            if pos.any():
                errs.append(np.mean(np.abs(fn(x[idx][pos], p) - y[idx][pos]) / y[idx][pos]))
        held[f] = float(np.mean(errs)) if errs else math.inf
    best = min(held, key=held.get)
    # a family with fewer parameters within 1 % of the best is preferred (less to go wrong)
    for f in families:
        if len(FAMILIES[f][1]) < len(FAMILIES[best][1]) and held[f] <= held[best] * 1.01:
            best = f
    p = fits[best]
    fn = FAMILIES[best][0]
    r2, mape = _quality(fn(x, p), y)

    # block bootstrap (weeks of consecutive periods): the curve's plausible band. Families
    # that predict the held-out periods about as well as the chosen one are bootstrapped
    # too: the data cannot tell them apart, so the band covers them all.
    rng = np.random.default_rng(seed)
    block = 14 if len(x) >= 70 else 1  # campaign budgets hold for weeks: resample runs of days
    starts = np.arange(0, len(x), block)
    grid = np.linspace(0.0, max(2.0 * x.max(), 1e-9), 81)
    rivals = [f for f in families if f != best and held[f] <= held[best] * RIVAL]
    point = fn(grid, p)
    band_lo, band_hi = point.copy(), point.copy()
    for f, count in [(best, bootstrap), *[(f, max(bootstrap // 2, 1)) for f in rivals]]:
        if not bootstrap:
            break
        fam_fn = FAMILIES[f][0]
        draws = []
        for _ in range(count):
            pick = rng.choice(starts, size=len(starts))
            idx = np.concatenate([np.arange(s, min(s + block, len(x))) for s in pick])
            draws.append(fam_fn(grid, _fit(f, x[idx], y[idx], [fits[f]])))
        lo_f, hi_f = np.percentile(np.array(draws), BAND, axis=0)
        band_lo, band_hi = np.minimum(band_lo, lo_f), np.maximum(band_hi, hi_f)
    inside = (grid >= lo_q) & (grid <= hi_q) & (point > 0)
    low = float(np.min(band_lo[inside] / point[inside])) if inside.any() else 1.0
    high = float(np.max(band_hi[inside] / point[inside])) if inside.any() else 1.0
    if mape > 0.35:
        warnings.append(f"the fit is loose (MAPE {mape:.0%}): outcomes vary for reasons "
                        "spend does not explain; check the campaign mapping")
    return Fit(series, best, curve_of(best, p), r2, mape, held, float(lo_q), float(hi_q),
               float(x.max()), grid, band_lo, band_hi, low, high, identified, warnings)
