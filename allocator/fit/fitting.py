"""Fitting a line's response curve to its history.

The model of one period t: outcome_t ~ weekday_t * f(a_t), where f is a curve family of the
curves module, a_t = spend_t + carryover * a_(t-1) the effective spend (carryover acts before
saturation), and weekday_t a multiplier per day of the week (daily data; mean 1, so f is
the average day). Week or month totals with the daily spend behind them are fitted with
the daily model summed over each period's days with spend (a total does not hide how it
was spread); curve and carryover are then written per period (`per_period_model`). The
noise model follows the KPI:

- counts (purchases, leads, conversions, results): negative binomial, variance mu + mu^2/phi,
  fitted by maximum likelihood (iteratively reweighted least squares, whose fixed point is
  the likelihood's), so sparse days and zeros count as data;
- totals (impressions, clicks, reach, revenue): constant relative noise, robust (soft-L1)
  least squares on relative residuals.

The family is chosen on five contiguous held-out blocks (held-out negative log-likelihood
for counts, held-out relative error for totals). Tie rule: the lowest held-out score wins;
families within two standard errors of it (paired per period, over week-long blocks) are
rivals the data cannot tell apart, and the band covers them too. No family is preferred for
its place in a list or its number of parameters.

The band is a 90 % simultaneous band of the response to sustained spend over the observed
range, from the sandwich covariance of the parameters (scores summed over week-long blocks,
so that overdispersion and serial correlation widen it), drawn through the curve; the union
over rival families. `bootstrap` > 0 uses a block bootstrap instead (slower; a check).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares
from scipy.signal import lfilter
from scipy.special import gammaln

from .. import curves as cv
from .mapping import KPI_WORDS, LineSeries
from .readers import ExportError

__all__ = ["Fit", "fit_line", "FAMILIES", "MIN_POINTS", "COUNT_KPIS", "SATURATION_WIDTH",
           "CARRYOVER_WIDTH", "BAND_LEVEL", "sustained", "curve_of"]

RIVAL_SE = 2.0  # families within this many standard errors of the best are rivals
MIN_POINTS = 20  # periods with spend: fewer cannot tell a slope from noise
FOLDS = 5  # contiguous blocks held out in turn to choose the family
BAND_LEVEL = 0.90  # the band: 90 % simultaneous over the observed spend
DRAWS = 400  # parameter draws through the curve for the band
SATURATION_WIDTH = 0.30  # saturation identified: the band at 1.5x the top spend is narrower
CARRYOVER_WIDTH = 0.30  # carryover identified: its 90 % interval narrower, and above 0
CARRYOVER_MAX = 0.9
COUNT_KPIS = {"purchases", "leads", "conversions", "results"}
UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}
BLOCK = {"day": 7, "week": 4, "month": 1}  # scores summed over these many periods


# --- the families: value, Jacobian in their own parameters, slope in spend ------------------


def _hill(a, p):
    return cv.hill_value(a, np.exp(p[0]), np.exp(p[1]), p[2])


def _hill_jac(a, p):
    vmax, k, s = math.exp(p[0]), math.exp(p[1]), p[2]
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        la = np.log(np.where(a > 0, a, 1.0) / k)
        u = np.exp(np.clip(s * la, -700, 700))
        g = u / (1 + u) ** 2
        f = vmax * u / (1 + u)
    return np.column_stack([f, -s * vmax * g, vmax * g * la])


def _hill_slope(a, p):
    return cv.hill_derivative(np.maximum(a, 1e-12), np.exp(p[0]), np.exp(p[1]), p[2])


def _exponential(a, p):
    return cv.exponential_value(a, np.exp(p[0]), np.exp(p[1]))


def _exponential_jac(a, p):
    vmax, k = math.exp(p[0]), math.exp(p[1])
    e = np.exp(-a / k)
    return np.column_stack([vmax * (1 - e), -vmax * e * a / k])


def _exponential_slope(a, p):
    return cv.exponential_derivative(a, np.exp(p[0]), np.exp(p[1]))


def _power(a, p):
    return cv.power_value(a, np.exp(p[0]), p[1])


def _power_jac(a, p):
    f = _power(a, p)
    return np.column_stack([f, f * np.log(np.where(a > 0, a, 1.0))])


def _power_slope(a, p):
    return cv.power_derivative(np.maximum(a, 1e-12), np.exp(p[0]), p[1])


def _log(a, p):
    return cv.log_value(a, np.exp(p[0]), np.exp(p[1]))


def _log_jac(a, p):
    amp, k = math.exp(p[0]), math.exp(p[1])
    return np.column_stack([amp * np.log1p(a / k), -amp * a / (k + a)])


def _log_slope(a, p):
    return cv.log_derivative(a, np.exp(p[0]), np.exp(p[1]))


@dataclass(frozen=True)
class Family:
    value: object
    jac: object
    slope: object
    lo: tuple[float, ...]
    hi: tuple[float, ...]


FAMILIES: dict[str, Family] = {
    "hill": Family(_hill, _hill_jac, _hill_slope, (-50, -50, 0.5), (50, 50, 3.0)),
    "exponential": Family(_exponential, _exponential_jac, _exponential_slope,
                          (-50, -50), (50, 50)),
    "power": Family(_power, _power_jac, _power_slope, (-50, 0.05), (50, 1.0)),
    "log": Family(_log, _log_jac, _log_slope, (-50, -50), (50, 50)),
}


def curve_of(family: str, p) -> cv.Curve:
    """The curve of fitted parameters (without carryover: the curve of effective spend)."""
    if family == "hill":
        return cv.Hill(math.exp(p[0]), math.exp(p[1]), float(p[2]))
    if family == "exponential":
        return cv.Exponential(math.exp(p[0]), math.exp(p[1]))
    if family == "power":
        return cv.Power(math.exp(p[0]), float(p[1]))
    return cv.Log(math.exp(p[0]), math.exp(p[1]))


def sustained(curve: cv.Curve, carryover: float) -> cv.Curve:
    """The response to spend held at x every period: f(x / (1 - carryover)), same family."""
    return cv.scaled(curve, cost=1.0 - carryover) if carryover else curve


def _vector_value(family: str, x: np.ndarray, P: np.ndarray) -> np.ndarray:
    """The family's value at x for many parameter rows P (draws x grid)."""
    cols = [P[:, i:i + 1] for i in range(P.shape[1])]
    return FAMILIES[family].value(np.atleast_2d(x), cols)


def _starts(family: str, a: np.ndarray, y: np.ndarray) -> list[list[float]]:
    am, ym = float(np.median(a)), max(float(np.mean(y)), 1e-9)
    lx, ly = math.log(max(am, 1e-9)), math.log(ym)
    if family == "hill":
        return [[ly + 0.7, lx, 1.0], [ly + 1.5, lx + 0.7, 1.0], [ly + 0.4, lx, 2.0]]
    if family == "exponential":
        return [[ly + 0.5, lx], [ly + 1.5, lx + 1.0]]
    if family == "power":
        return [[ly - 0.6 * lx, 0.6]]
    return [[ly, lx], [ly + 1.0, lx + 1.0]]


def adstock(x: np.ndarray, carryover: float) -> np.ndarray:
    """Effective spend: a_t = x_t + carryover * a_(t-1), from nothing before the data."""
    return lfilter([1.0], [1.0, -carryover], x) if carryover > 0 else x


# --- one fit -------------------------------------------------------------------------------


@dataclass
class _Data:
    x: np.ndarray  # spend per period, every period of the calendar (0 when none)
    y: np.ndarray
    use: np.ndarray  # bool: periods that enter the likelihood (spend > 0)
    dow: np.ndarray | None  # weekday 0-6 per period (daily data), else None
    count: bool
    block: int
    # week/month totals with the daily spend behind them (periods x days, 0 where none): the
    # model is then the daily one (a daily curve of the daily carried-over spend, summed
    # over the period's days with spend), so that a total does not hide how it was spread
    days: np.ndarray | None = None
    m: float = 1.0  # days per period of the daily model (1: the model is the period's own)

    def __post_init__(self):
        if self.days is not None:
            self._flat = self.days.ravel()
            self._on = self._flat > 0


def _model(d: _Data, family: str, p: np.ndarray, lam: float, with_lam: bool = False,
           jac: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The curve's mean per period (without weekday effects), the effective spend (per day
    for the daily model of period totals), and optionally the Jacobian in p (and the
    carryover when with_lam)."""
    fam = FAMILIES[family]
    x = d.x if d.days is None else d._flat
    a = adstock(x, lam)
    f = fam.value(a, p)
    J = None
    if jac:
        J = fam.jac(a, p)
        if with_lam:
            da = lfilter([1.0], [1.0, -lam], np.concatenate([[0.0], a[:-1]]))
            J = np.column_stack([J, fam.slope(a, p) * da])
        J = np.nan_to_num(J)
    if d.days is None:
        return f, a, J
    shape = d.days.shape
    f = np.where(d._on, f, 0.0).reshape(shape).sum(axis=1)
    if J is not None:
        J = (J * d._on[:, None]).reshape(shape[0], shape[1], -1).sum(axis=1)
    return f, a, J


def conversion(lam: float, n: float) -> float:
    """Geometric carryover per period of n units from `lam` per unit: the share of a
    period's effective spend that lands after the period when the period is spent evenly,
    (lam + lam^2 + ... + lam^n) / n (n = 1: lam itself; real n by the closed form)."""
    if lam <= 0:
        return 0.0
    if n == 1:
        return float(lam)
    return float(lam * (1 - lam ** n) / (n * (1 - lam)))


def per_period_model(curve: cv.Curve, lam: float, n: float) -> tuple[cv.Curve, float]:
    """The curve of effective spend per period of n units, and its carryover c, from the
    curve and carryover `lam` per unit: spend X per period at even pacing lasts, so
    F(X / (1 - c)) = n f(X / (n (1 - lam))) (the response to sustained spend is kept) and c
    is `conversion(lam, n)`."""
    if n == 1:
        return curve, float(lam)
    c = conversion(lam, n)
    return cv.scaled(curve, outcome=n, cost=n * (1 - lam) / (1 - c)), c


@dataclass
class _State:
    family: str
    p: np.ndarray  # family parameters
    lam: float
    weekday: np.ndarray  # 7 multipliers, mean 1 (ones when not estimated)
    phi: float  # counts: NB size; totals: 1 / CV^2
    free_lam: bool = False

    def theta(self) -> np.ndarray:
        return np.append(self.p, self.lam) if self.free_lam else self.p.copy()


def _mu_parts(d: _Data, s: _State, theta: np.ndarray):
    k = len(s.p)
    lam = float(theta[k]) if s.free_lam else s.lam
    f, a, _ = _model(d, s.family, theta[:k], lam)
    w = s.weekday[d.dow] if d.dow is not None else 1.0
    return a, f, w, lam


def _variance(mu: np.ndarray, count: bool, phi: float) -> np.ndarray:
    mu = np.maximum(mu, 1e-9)
    return mu + mu * mu / phi if count else mu * mu / phi


def _solve(d: _Data, s: _State, weights: np.ndarray | None = None, rounds: int = 3,
           nfev: int = 60) -> _State:
    """IRLS: least squares with variances from the last round's fit, then the weekday
    multipliers and the dispersion, `rounds` times. Returns the new state."""
    fam = FAMILIES[s.family]
    k = len(s.p)
    lo = list(fam.lo) + ([0.0] if s.free_lam else [])
    hi = list(fam.hi) + ([CARRYOVER_MAX] if s.free_lam else [])
    idx = np.flatnonzero(d.use)
    sw = np.sqrt(weights[idx]) if weights is not None else 1.0
    theta = np.clip(s.theta(), np.array(lo) + 1e-9, np.array(hi) - 1e-9)
    state = s
    for _ in range(rounds):
        a, f, w, lam = _mu_parts(d, state, theta)
        mu = np.maximum((w * f)[idx], 1e-9 * max(float(np.mean(d.y[idx])), 1e-9))
        sd = np.sqrt(_variance(mu, d.count, state.phi))
        yi = d.y[idx]
        ww = (state.weekday[d.dow[idx]] if d.dow is not None else 1.0) * sw / sd

        scale = sw / sd

        def resid(t, yi=yi, state=state, scale=scale):
            _, f, w, _ = _mu_parts(d, state, t)
            return ((w * f)[idx] - yi) * scale

        def jac(t, ww=ww, state=state):
            lam = float(t[k]) if state.free_lam else state.lam
            J = _model(d, state.family, t[:k], lam, state.free_lam, jac=True)[2][idx]
            return np.nan_to_num(J * ww[:, None] if np.ndim(ww) else J * ww)

        res = least_squares(resid, theta, jac=jac, bounds=(lo, hi),
                            loss="linear" if d.count else "soft_l1", f_scale=2.0,
                            max_nfev=nfev, x_scale="jac")
        theta = res.x
        state = _State(state.family, theta[:k].copy(), float(theta[k]) if state.free_lam
                       else state.lam, state.weekday, state.phi, state.free_lam)
        state = _update_nuisance(d, state, weights)
    return state


def _update_nuisance(d: _Data, s: _State, weights: np.ndarray | None) -> _State:
    """Weekday multipliers (ratio estimates, mean 1) and the dispersion, for fixed curve."""
    _, f, _, _ = _mu_parts(d, s, s.theta())
    u = d.use if weights is None else d.use & (weights > 0)
    wt = np.ones(len(d.y)) if weights is None else weights
    weekday = s.weekday
    if d.dow is not None:
        num = np.bincount(d.dow[u], weights=(wt * d.y)[u], minlength=7)
        den = np.bincount(d.dow[u], weights=(wt * f)[u], minlength=7)
        if (den > 0).all() and num.sum() > 0:
            weekday = np.clip(num / den, 0.2, 5.0)
            weekday = weekday / weekday.mean()
    mu = np.maximum(f * (weekday[d.dow] if d.dow is not None else 1.0), 1e-12)[u]
    y = d.y[u]
    if d.count:
        extra = float(np.sum(wt[u] * ((y - mu) ** 2 - mu)) / max(np.sum(wt[u] * mu * mu), 1e-12))
        phi = 1.0 / max(extra, 1e-4)
    else:
        rel = (y - mu) / mu
        cv_ = 1.4826 * float(np.median(np.abs(rel - np.median(rel))))
        phi = 1.0 / max(cv_, 1e-3) ** 2
    return _State(s.family, s.p, s.lam, weekday, min(phi, 1e6), s.free_lam)


def _scores(d: _Data, s: _State) -> tuple[np.ndarray, np.ndarray]:
    """Per-period contribution to the score (n x p) and the information matrix (p x p), at
    the fit: the curve's parameters (and carryover), then the log weekday multipliers of
    Tuesday to Sunday (Monday the reference), so that the curve's uncertainty includes what
    the weekday effects take from it (spend dips at weekends)."""
    f, _, J = _model(d, s.family, s.p, s.lam, s.free_lam, jac=True)
    w = s.weekday[d.dow] if d.dow is not None else 1.0
    idx = np.flatnonzero(d.use)
    mu = np.maximum((w * f)[idx], 1e-12)
    var = _variance(mu, d.count, s.phi)
    wk = s.weekday[d.dow[idx]] if d.dow is not None else np.ones(len(idx))
    J = J[idx] * wk[:, None]
    if d.dow is not None:
        J = np.column_stack([J, mu[:, None] * (d.dow[idx][:, None] == np.arange(1, 7))])
    J = np.nan_to_num(J)
    r = (d.y[idx] - mu) / np.sqrt(var)
    if d.count:
        psi = np.ones_like(r)
    else:  # soft-L1 with f_scale 2: the weight a residual keeps
        psi = 1.0 / np.sqrt(1.0 + (r / 2.0) ** 2)
    Js = J / np.sqrt(var)[:, None]
    U = Js * (psi * r)[:, None]
    H = Js.T @ (Js * psi[:, None])
    return U, H + 1e-12 * np.eye(J.shape[1]) * max(np.trace(H), 1e-12)


def _covariance(d: _Data, s: _State) -> np.ndarray:
    """Sandwich covariance H^-1 M H^-1, M from scores summed over blocks of periods."""
    U, H = _scores(d, s)
    idx = np.flatnonzero(d.use)
    blocks = idx // d.block
    S = np.zeros((int(blocks.max()) + 1, U.shape[1]))
    np.add.at(S, blocks, U)
    S = S[np.any(S != 0, axis=1)]
    nb, p = len(S), U.shape[1]
    M = S.T @ S * nb / max(nb - p, 1)
    Hi = np.linalg.pinv(H)
    C = Hi @ M @ Hi
    return 0.5 * (C + C.T)


def _drift(d: _Data, s: _State) -> tuple[float, int]:
    """Relative drift of the outcome around the curve that the noise does not explain:
    block means of y / fit - 1 vary more than the noise alone lets them (seasonality,
    creative wear-out, tracking changes, a mis-specified curve). Returns its standard
    deviation and the number of blocks (the degrees of freedom of the band)."""
    _, f, w, _ = _mu_parts(d, s, s.theta())
    idx = np.flatnonzero(d.use)
    mu = np.maximum((w * f)[idx], 1e-12)
    rel = d.y[idx] / mu - 1
    var = _variance(mu, d.count, s.phi) / mu ** 2
    blocks = idx // d.block
    n = np.bincount(blocks)
    ok = n > 0
    means = np.bincount(blocks, weights=rel)[ok] / n[ok]
    expect = np.bincount(blocks, weights=var)[ok] / n[ok] ** 2
    nb = int(ok.sum())
    if nb < 4:
        return 0.0, nb
    excess = float(np.mean(means ** 2) - np.mean(expect))
    return math.sqrt(max(excess, 0.0)), nb


def _nll(y, mu, count: bool, phi: float) -> np.ndarray:
    """Per-period negative log-likelihood (counts) or relative absolute error (totals)."""
    mu = np.maximum(mu, 1e-12)
    if not count:
        return np.abs(y - mu) / mu
    return -(gammaln(y + phi) - gammaln(phi) - gammaln(y + 1) + phi * np.log(phi / (phi + mu))
             + y * np.log(mu / (phi + mu)))


# --- the result ----------------------------------------------------------------------------


@dataclass
class Fit:
    series: LineSeries
    family: str
    curve: cv.Curve  # per period (day, week or month) of effective spend, export's currency
    carryover: float  # geometric carryover per period (0 when not identified)
    carryover_interval: tuple[float, float]  # its 90 % interval (from the joint fit)
    carryover_identified: bool
    weekday: np.ndarray | None  # 7 multipliers (Mon..Sun), mean 1; None when not estimated
    model: str  # "negative binomial" or "robust least squares"
    dispersion: float  # counts: NB size phi; totals: relative noise (CV)
    r2: float
    error: float  # in-sample weighted absolute error: sum |y - fit| / sum y
    held_out: dict[str, float]  # family -> held-out error (sum |y - pred| / sum y)
    criterion: dict[str, float]  # family -> held-out score the choice used (lower is better)
    rivals: list[str]  # families within RIVAL_SE standard errors of the chosen one
    spend_min: float  # the spend range the data covers (per period, 5th-95th percentile)
    spend_max: float
    spend_peak: float  # the highest spend seen in one period
    grid: np.ndarray  # spend per period (sustained) where the band is given
    point: np.ndarray  # the response to sustained spend on the grid
    band_lo: np.ndarray
    band_hi: np.ndarray
    low: float  # response factors over the observed range (from the band)
    high: float
    identified: bool  # the band at 1.5x the top of the observed spend is narrow enough
    saturation_width: float  # that band's width relative to the curve there
    calibration: list[dict] = field(default_factory=list)  # lift tests and what the fit says
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # the model behind the curve: its curve of effective spend and carryover per unit of
    # `base_days` days (a day when week or month totals were fitted with the daily spend
    # behind them, else the fit's own period), the carryover's 90 % interval
    base_curve: cv.Curve | None = None
    base_carryover: float = 0.0
    base_interval: tuple[float, float] = (0.0, 0.0)
    base_days: float = 1.0

    def for_period(self, days: float) -> tuple[cv.Curve, float, tuple[float, float]]:
        """The curve of effective spend per period of `days` days (even pacing within it),
        its geometric carryover per period and that carryover's 90 % interval."""
        n = days / self.base_days
        base = self.base_curve if self.base_curve is not None else self.curve
        curve, c = per_period_model(base, self.base_carryover, n)
        lo, hi = self.base_interval
        return curve, c, (conversion(lo, n), conversion(hi, n))

    @property
    def response(self) -> cv.Curve:
        """The response to spend sustained at x per period (carryover included)."""
        return sustained(self.curve, self.carryover)

    def value(self, x):
        return self.response.value(x)

    @property
    def mape(self) -> float:  # the name the old table used
        return self.error


@dataclass(frozen=True)
class Lift:
    """A lift test: at `spend` per `per` (day, week, month) the line drove `incremental`
    outcomes per `per`, with a `level` interval from `low` to `high`."""

    line: str
    spend: float
    incremental: float
    low: float
    high: float
    per: str = "week"
    level: float = 0.95
    label: str = ""


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def _calendar(series: LineSeries, by: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    dates = np.asarray(series.dates).astype("datetime64[D]")
    dow = ((dates.astype(np.int64) + 3) % 7).astype(int) if by == "day" else None
    return series.spend.astype(float), series.outcome.astype(float), dow


def _band(family: str, theta: np.ndarray, cov: np.ndarray, free_lam: bool, lam: float,
          grid: np.ndarray, inside: np.ndarray, rng: np.random.Generator,
          scale_sd: float = 0.0, weekday: np.ndarray | None = None, df: int = 0,
          m: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draws of the sustained response on the grid; a simultaneous band over `inside`.
    `cov` may carry the weekday parameters after theta: the curve of a draw is then the
    average day of its own weekday multipliers."""
    fam = FAMILIES[family]
    k = len(fam.lo)
    full = np.concatenate([theta, np.zeros(cov.shape[0] - len(theta))])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            P = rng.multivariate_normal(full, cov, size=DRAWS, method="eigh")
    except (np.linalg.LinAlgError, ValueError):
        P = np.repeat(full[None, :], DRAWS, axis=0)
    if df > 0:  # few blocks: Student-t draws (the covariance itself is an estimate)
        P = full + (P - full) * np.sqrt(df / rng.chisquare(df, DRAWS))[:, None]
    level = np.ones(DRAWS)
    if cov.shape[0] > len(theta) and weekday is not None:
        dw = np.clip(np.column_stack([np.zeros(DRAWS), P[:, len(theta):]]), -1.0, 1.0)
        level = (weekday[None, :] * np.exp(dw)).mean(axis=1) / weekday.mean()
    # the log response linearised in the parameters (the delta method, in logs): draws stay
    # positive and a weakly identified pair (Hill's vmax and k far above the spend seen)
    # cannot swing the curve where the data pin it down
    nt = len(theta)
    x = np.maximum(grid, 1e-9 * max(float(grid[-1]), 1e-9))

    def log_r(t):
        lm = float(np.clip(t[k], 0.0, CARRYOVER_MAX)) if free_lam else lam
        with np.errstate(all="ignore"):
            return np.log(np.maximum(m * fam.value(x / (m * (1 - lm)), t[:k]), 1e-300))

    base = log_r(theta)
    G = np.empty((len(grid), nt))
    lo_b, hi_b = list(fam.lo) + [0.0], list(fam.hi) + [CARRYOVER_MAX]
    for i in range(nt):
        h = 1e-5 * max(1.0, abs(float(theta[i])))
        up, dn = theta.copy(), theta.copy()
        up[i] = min(up[i] + h, hi_b[i])
        dn[i] = max(dn[i] - h, lo_b[i])
        G[:, i] = (log_r(up) - log_r(dn)) / max(up[i] - dn[i], 1e-12)
    G = np.nan_to_num(G)
    D = np.exp(base[None, :] + (P[:, :nt] - theta[None, :]) @ G.T)
    D = D * level[:, None]
    if scale_sd:
        D = D * np.exp(rng.normal(0, scale_sd, DRAWS))[:, None]
    return D, *_simultaneous(D, inside)


def _simultaneous(D: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise quantiles widened until BAND_LEVEL of the draws lie wholly inside over
    the observed range (a band for the curve, not for each point alone)."""
    a = (1 - BAND_LEVEL) / 2
    med = np.median(D, axis=0)
    q_lo, q_hi = np.quantile(D, [a, 1 - a], axis=0)
    lo_w, hi_w = np.maximum(med - q_lo, 1e-12), np.maximum(q_hi - med, 1e-12)
    dev = np.maximum((med - D) / lo_w, (D - med) / hi_w)[:, inside]
    c = float(np.quantile(dev.max(axis=1), BAND_LEVEL)) if inside.any() else 1.0
    c = max(c, 1.0)
    return med - c * lo_w, med + c * hi_w


def fit_line(series: LineSeries, *, families: tuple[str, ...] = tuple(FAMILIES),
             bootstrap: int = 0, seed: int = 0, by: str = "day",
             lifts: list[Lift] | tuple = (), carryover: bool = True) -> Fit:
    """Fit one line; raises ExportError when the data cannot carry a curve."""
    x, y, dow = _calendar(series, by)
    name = series.name
    where = _where(series)
    unit = by
    active = x > 0
    if int(active.sum()) < MIN_POINTS:
        raise ExportError([f"line {name} ({where}): {int(active.sum())} {unit}s with spend; a "
                           f"curve needs at least {MIN_POINTS}: export a longer range"
                           + (" or fit --by day" if by != "day" else "")])
    xs = x[active]
    lo_q, hi_q = np.percentile(xs, [5, 95])
    if np.std(xs) <= 0.01 * np.mean(xs) or len(np.unique(np.round(xs, 2))) < 3:
        raise ExportError([f"line {name} ({where}): spend never varies (about "
                           f"{np.mean(xs):,.2f} every {unit}): a response curve needs "
                           "different spend levels; vary the budget for a few weeks, or give "
                           "this line's curve by hand"])
    if float(y[active].sum()) <= 0:
        raise ExportError([f"line {name} ({where}): no {KPI_WORDS[series.kpi]} at all on "
                           f"{int(active.sum())} {unit}s with spend: check the campaign mapping "
                           "and the KPI column"])
    count = series.kpi in COUNT_KPIS or (
        series.kpi == "outcome" and bool(np.allclose(y, np.round(y))) and float(
            np.mean(y[active])) < 200)
    use_dow = dow is not None and int(active.sum()) >= 84  # 12 weeks: 2 blocks a parameter
    days = None
    if by != "day" and series.within is not None and len(series.within) == len(x):
        days = np.nan_to_num(np.asarray(series.within, float))
        if not np.allclose(days.sum(axis=1), x, rtol=1e-6, atol=1e-6):
            days = None  # the daily spend does not add up to the totals: fit the totals
    m = UNIT_DAYS[by] if days is not None else 1.0
    d = _Data(x, y, active, dow if use_dow else None, count, BLOCK.get(by, 7), days, m)
    warnings: list[str] = []
    notes: list[str] = []

    # every family, first without carryover, then with it free
    states: dict[str, _State] = {}
    for fam in families:
        best = None
        for p0 in _starts(fam, xs / m, y[active] / m):
            st = _State(fam, np.array(p0, float), 0.0, np.ones(7), 1.0 / 0.15 ** 2 if not count
                        else 10.0)
            st = _update_nuisance(d, st, None)
            st = _solve(d, st, rounds=1, nfev=80)
            score = _objective(d, st)
            if best is None or score < best[0]:
                best = (score, st)
        states[fam] = _solve(d, best[1], rounds=2)
    lam_note = ""
    lam_iv = (0.0, 0.0)
    lam_ok = False
    if carryover and len(x) >= 3 * MIN_POINTS:
        joint = {}
        for fam, st in states.items():
            st2 = _State(fam, st.p.copy(), 0.2, st.weekday, st.phi, True)
            joint[fam] = _solve(d, st2, rounds=2)
    else:
        joint = {}

    # the family that predicts held-out contiguous blocks best (each with its own carryover
    # candidate: the joint fit where it identifies carryover, else none)
    folds = np.array_split(np.flatnonzero(active), FOLDS)
    chosen: dict[str, _State] = {}
    lam_info: dict[str, tuple[float, float, bool]] = {}
    for fam in families:
        st = states[fam]
        if fam in joint:
            js = joint[fam]
            cov = _covariance(d, js)
            kl = len(js.p)
            se = math.sqrt(max(cov[kl, kl], 0.0))
            z = 1.645
            iv = (max(js.lam - z * se, 0.0), min(js.lam + z * se, 1.0))
            ok = iv[0] > 0.02 and iv[1] - iv[0] < CARRYOVER_WIDTH
            if iv[0] <= 0.02 and iv[1] - iv[0] < CARRYOVER_WIDTH:
                iv = (0.0, iv[1])  # none found: at most iv[1]
            lam_info[fam] = (*iv, ok)
            if ok:
                st = js
        chosen[fam] = st
    scores: dict[str, np.ndarray] = {}
    held: dict[str, float] = {}
    for fam in families:
        st = chosen[fam]
        pred = np.zeros(len(y))
        per = np.zeros(len(y))
        for idx in folds:
            wts = np.ones(len(y))
            wts[idx] = 0.0
            fs = _State(fam, st.p.copy(), st.lam, st.weekday, st.phi, False)
            fs = _solve(d, fs, weights=wts, rounds=1, nfev=40)
            _, f, w, _ = _mu_parts(d, fs, fs.theta())
            mu = (w * f)[idx] if np.ndim(w) else w * f[idx]
            pred[idx] = mu
            per[idx] = _nll(y[idx], mu, count, fs.phi)
        scores[fam] = per[active]
        held[fam] = float(np.sum(np.abs(y[active] - pred[active])) / np.sum(y[active]))
    crit = {f: float(np.mean(v)) for f, v in scores.items()}
    ranked = sorted(families, key=lambda f: (crit[f], _objective(d, chosen[f]), f))
    best = ranked[0]
    rivals = []
    nblocks = max(int(active.sum()) // d.block, 2)
    for f in ranked[1:]:
        diff = scores[f] - scores[best]
        blocks = np.array_split(diff, nblocks)
        bm = np.array([b.mean() for b in blocks if len(b)])
        se = float(np.std(bm, ddof=1) / math.sqrt(len(bm))) if len(bm) > 1 else math.inf
        if diff.mean() <= RIVAL_SE * se:
            rivals.append(f)
    st = chosen[best]
    if best in lam_info:
        lo_l, hi_l, lam_ok = lam_info[best]
        lam_iv = (lo_l, hi_l)
        lu = "day" if m != 1.0 else unit  # a daily model of period totals: carryover per day
        if lam_ok:
            lam_note = (f"carryover {st.lam:.2f} per {lu} (90 % interval {lo_l:.2f}-{hi_l:.2f}),"
                        " estimated jointly with the curve")
            if m != 1.0:
                lam_note += (f"; {conversion(st.lam, m):.3f} per {unit} (90 % interval "
                             f"{conversion(lo_l, m):.3f}-{conversion(hi_l, m):.3f})")
        elif lo_l == 0.0 and hi_l < CARRYOVER_WIDTH:
            lam_note = f"no carryover found (at most {hi_l:.2f} per {lu})"
        else:
            lam_note = (f"carryover not identified (the data allow {lo_l:.2f} to {hi_l:.2f} per "
                        f"{lu}): the curve assumes none")
    else:
        lam_note = (f"carryover not estimated (needs at least {3 * MIN_POINTS} {unit}s of "
                    "data)" if carryover else "carryover not estimated (switched off)")
    notes.append(lam_note)

    _, f_all, w_all, _ = _mu_parts(d, st, st.theta())
    fitted = (w_all * f_all)[active] if np.ndim(w_all) else f_all[active]
    ya = y[active]
    ss_tot = float(np.sum((ya - ya.mean()) ** 2))
    r2 = 1 - float(np.sum((ya - fitted) ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    error = float(np.sum(np.abs(ya - fitted)) / np.sum(ya))
    dispersion = st.phi if count else 1 / math.sqrt(st.phi)

    # the band: parameter draws (sandwich) or a block bootstrap, over the chosen family and
    # its rivals; the response to sustained spend, carryover included
    rng = np.random.default_rng(seed)
    grid = np.linspace(0.0, max(2.0 * xs.max(), 1e-9), 81)
    inside = (grid >= lo_q) & (grid <= hi_q)
    per_curve, per_lam = per_period_model(curve_of(best, st.p), st.lam, m)
    response = sustained(per_curve, per_lam)
    point = response.value(grid)
    lift_scale, lift_sd, calib = 1.0, 0.0, []
    mine = [lt for lt in lifts if lt.line == name]
    if mine:
        lift_scale, lift_sd, calib = _calibrate(response, mine, by)
        point = point * lift_scale
    band_lo, band_hi = point.copy(), point.copy()
    draws_by_family = {}
    agg = _aggregation(series, response)
    if d.days is not None:
        notes.append(f"fitted as a daily curve to the {unit}s' totals, with the daily spend "
                     f"behind each {unit} (a total hides how it was spread over the days); "
                     f"written per {unit} at even pacing")
    if agg > 0.002:  # daily model or not, the days' outcomes stay unseen (weekday effects,
        # the daily noise's skew): an allowance sized by how unevenly each period was spent
        notes.append(f"a {unit}'s total hides how spend and outcome were spread over its "
                     f"days: the band allows {agg:.1%} for that (fit --by day to avoid it)")
    for fam in [best, *rivals]:
        fs = chosen[fam]
        if bootstrap:
            D = _bootstrap(d, fs, grid, bootstrap, rng)
            if lift_sd:
                D = D * np.exp(rng.normal(0, lift_sd, len(D)))[:, None]
            lo_f, hi_f = _simultaneous(D, inside)
        else:
            cov = _covariance(d, fs)
            drift, nb = _drift(d, fs)
            extra = math.sqrt(lift_sd ** 2 + drift ** 2 / max(nb, 1) * d.block + agg ** 2)
            D, lo_f, hi_f = _band(fam, fs.theta(), cov, fs.free_lam, fs.lam, grid, inside,
                                  rng, extra, fs.weekday if d.dow is not None else None,
                                  max(nb - cov.shape[0], 4), m)
        lo_f, hi_f = lo_f * lift_scale, hi_f * lift_scale
        draws_by_family[fam] = D
        band_lo, band_hi = np.minimum(band_lo, lo_f), np.maximum(band_hi, hi_f)
    band_lo = np.maximum(band_lo, 0.0)
    ins = inside & (point > 0)
    low = float(np.min(band_lo[ins] / point[ins])) if ins.any() else 1.0
    high = float(np.max(band_hi[ins] / point[ins])) if ins.any() else 1.0
    x_sat = 1.5 * hi_q
    p_sat = float(np.interp(x_sat, grid, point))
    width = float((np.interp(x_sat, grid, band_hi) - np.interp(x_sat, grid, band_lo))
                  / max(p_sat, 1e-12))
    varied = hi_q / max(lo_q, 1e-12) >= 1.5
    identified = width < SATURATION_WIDTH and varied
    if not varied:
        warnings.append(f"spend hardly varied ({lo_q:,.0f} to {hi_q:,.0f} per {unit}): the "
                        "data cannot identify saturation; the curve is a local slope and "
                        "its band is wide beyond that range")
    elif not identified:
        warnings.append(f"saturation not identified: at 1.5x the top spend seen "
                        f"({x_sat:,.0f} per {unit}) the band is {width:.0%} wide (identified "
                        f"below {SATURATION_WIDTH:.0%}): plan within the observed range or run "
                        "a test")
    noise = (1 / math.sqrt(st.phi)) if not count else None
    if noise is not None and noise > 0.35:
        warnings.append(f"the fit is loose (outcomes vary by {noise:.0%} around the curve): "
                        "they vary for reasons spend does not explain; check the campaign "
                        "mapping")
    for c in calib:
        if not c["inside"]:
            warnings.append(f"lift test {c['label']}: the calibrated curve gives "
                            f"{c['curve']:,.0f} where the test measured {c['incremental']:,.0f} "
                            f"({c['low']:,.0f}-{c['high']:,.0f}): the tests disagree with each "
                            "other or with the curve's shape")
    base = curve_of(best, st.p)
    if lift_scale != 1.0:
        base = cv.scaled(base, outcome=lift_scale)
    curve, per_lam = per_period_model(base, st.lam, m)
    per_iv = (conversion(lam_iv[0], m), conversion(lam_iv[1], m))
    return Fit(series, best, curve, per_lam, per_iv, lam_ok,
               st.weekday if d.dow is not None else None,
               "negative binomial" if count else "robust least squares", dispersion, r2, error,
               held, crit, rivals, float(lo_q), float(hi_q), float(xs.max()), grid, point,
               band_lo, band_hi, low, high, identified, width, calib, warnings, notes,
               base, st.lam, lam_iv, 1.0 if m != 1.0 else UNIT_DAYS[by])


def _aggregation(series: LineSeries, response: cv.Curve) -> float:
    """How far a period's outcome at uneven daily spend strays from the curve at the
    period's total, on average (relative): the allowance a weekly or monthly fit
    needs, from the daily spend behind each period (none for daily fits)."""
    within = series.within
    if within is None or not len(within):
        return 0.0
    n = np.sum(np.isfinite(within), axis=1)
    total = np.nansum(within, axis=1)
    ok = (total > 0) & (n > 0)
    if not ok.any():
        return 0.0
    days = within[ok]
    n, total = n[ok], total[ok]
    daily = np.nan_to_num(response.value(np.nan_to_num(days) * n[:, None]) / n[:, None])
    daily = np.where(np.isfinite(days), daily, 0.0)
    ratio = daily.sum(axis=1) / np.maximum(response.value(total), 1e-12)
    # the curve absorbs the average gap (a bias in its level and shape); the scatter of the
    # gaps is noise the fit already sees
    return float(np.sqrt(np.mean(ratio - 1) ** 2 + np.var(ratio) / len(ratio)))


def _objective(d: _Data, s: _State) -> float:
    _, f, w, _ = _mu_parts(d, s, s.theta())
    mu = (w * f)[d.use] if np.ndim(w) else f[d.use]
    return float(np.mean(_nll(d.y[d.use], mu, d.count, s.phi)))


def _bootstrap(d: _Data, s: _State, grid: np.ndarray, n: int,
               rng: np.random.Generator) -> np.ndarray:
    """Block bootstrap: refits on resampled runs of periods (as weights), sustained response
    on the grid per refit."""
    length = len(d.y)
    block = max(2 * d.block, 1)
    starts = np.arange(0, length, block)
    out = []
    for _ in range(n):
        pick = rng.choice(starts, size=len(starts))
        wts = np.zeros(length)
        for s0 in pick:
            wts[s0:s0 + block] += 1.0
        bs = _solve(d, s, weights=wts, rounds=1, nfev=40)
        out.append(sustained(*per_period_model(curve_of(bs.family, bs.p), bs.lam, d.m)
                             ).value(grid))
    return np.array(out)


def _calibrate(response: cv.Curve, lifts: list[Lift], by: str
               ) -> tuple[float, float, list[dict]]:
    """The level of the curve from lift tests (its shape stays the data's): the factor c
    that brings the curve through the tests, weighted by their intervals (in logs), and the
    relative uncertainty of c."""
    unit = UNIT_DAYS[by]
    logs, weights, rows = [], [], []
    for lt in lifts:
        ratio = unit / UNIT_DAYS[lt.per]
        x = lt.spend * ratio
        model = float(response.value(x)) / ratio  # per the test's unit
        sd = (math.log(max(lt.high, 1e-12)) - math.log(max(lt.low, 1e-12))) / (2 * _z(lt.level))
        sd = max(sd, 1e-3)
        logs.append(math.log(lt.incremental / max(model, 1e-12)))
        weights.append(1 / sd ** 2)
        rows.append({"label": lt.label or f"at {lt.spend:,.0f} per {lt.per}", "spend": lt.spend,
                     "per": lt.per, "incremental": lt.incremental, "low": lt.low,
                     "high": lt.high, "level": lt.level, "before": model})
    w = np.array(weights)
    mean = float(np.sum(w * np.array(logs)) / w.sum())
    sd = float(1 / math.sqrt(w.sum()))
    c = math.exp(mean)
    for r in rows:
        r["curve"] = r["before"] * c
        r["inside"] = r["low"] * 0.999 <= r["curve"] <= r["high"] * 1.001
        r["factor"] = c
    return c, sd, rows


def _where(series: LineSeries) -> str:
    files = ", ".join(sorted({p.rsplit("/", 1)[-1] for p in series.files})) or "no file"
    names = series.campaigns
    shown = ", ".join(f"'{c}'" for c in names[:4]) + (f" and {len(names) - 4} more"
                                                       if len(names) > 4 else "")
    return f"{files}; campaign{'s' if len(names) != 1 else ''} {shown}"
