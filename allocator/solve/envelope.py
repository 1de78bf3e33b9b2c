"""Each line's Lagrangian subproblem, solved exactly on arrays.

For multipliers that price the coupling rows, line i earns

    phi_i(x) = alpha_i f_i(x) - beta_i x - gamma_i [x > 0]

over its allowed spends {0} u [L_i, H_i] (just [L_i, H_i] when its min is above 0), with
L_i = max(min, min_if_active). The maximum sits at one of a handful of candidate spends,
found for all lines of a family at once:

* the ends 0, L and H, and h, where the concave part of the allowed set begins (the
  inflection of an S-curve, or L);
* for alpha > 0, where alpha f'(x) = beta on the concave part of the curve (the "falling"
  root: f' falls there); for alpha < 0, on the convex part of an S-curve (the "rising" root).

Each root is clipped to its part, so every candidate is allowed and the best of them is the
line's exact maximum. Newton from the right side of a root leaves a certified slack:
phi's maximum is at most phi(x) + |phi'(x)| times the width of the part.

Hill curves are solved in v = s ln(x / k), where ln f'(x) = const + (1 - 1/s) v
- 2 softplus(v) is concave: Newton's method from the falling side converges monotonically
and quadratically, so a handful of vectorised steps reach machine precision (bisection would
take 50). Exponential, power and log curves have closed forms. Piecewise-linear curves
(linear, points) keep a fixed table of candidates: their breakpoints.

Every candidate belongs to a *region* of the line's allowed set; mixing candidates of one
region is a real plan (the curve is concave or linear between them), mixing regions is not
(a line between 0 and its threshold, or on the convex foot of an S-curve). The relaxation's
plan is a mix; the lines it mixes across regions are the "split" lines.
"""

from __future__ import annotations

import numpy as np

from .. import curves as cv
from ..problem import Problem

__all__ = ["Lines", "Col", "ZERO", "FOOT", "HIGH", "RISE", "TOP"]

Array = np.ndarray

# regions of a smooth line: off, at L on the convex foot, the concave part, the foot's own
# maximum (alpha < 0), the top of an allowed set that is all foot. Piecewise-linear lines
# number their concave stretches from 2 on.
ZERO, FOOT, HIGH, RISE, TOP = 0, 1, 2, 3, 4
_NEWTON_STEPS = 60


def _softplus(v: Array) -> Array:
    return np.maximum(v, 0.0) + np.log1p(np.exp(-np.abs(v)))


def _sigmoid(v: Array) -> Array:
    e = np.exp(-np.abs(v))
    return np.where(v >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class Col:
    """One candidate spend per line of a group at given multipliers (1-D arrays over the
    group; `valid` None means every line)."""

    __slots__ = ("x", "f", "valid", "region", "fp", "curv", "slack")

    def __init__(self, x, f, valid, region, fp=None, curv=None, slack=None):
        self.x = x  # spend
        self.f = f  # outcome f(x)
        self.valid = valid  # allowed at these multipliers
        self.region = region  # region id (scalar or per line)
        self.fp = fp  # f'(x) where x is an interior stationary point (else 0)
        self.curv = curv  # 1 / |alpha f''(x)| there: how fast x moves with the prices
        self.slack = slack  # how far phi(x) may lie below the true stationary maximum


class _Smooth:
    """Lines of one smooth family (hill, exponential, power with b < 1, log).

    The allowed set {0} u [L, H] splits into the convex foot [L, h) of an S-curve (h the
    larger of L and the inflection) and the concave part [h, H]. Columns (candidates):
    0; L; where alpha may be negative, phi's exact maximum on the foot (the rising root);
    H; h; and phi's exact maximum on the concave part (the falling root where alpha > 0,
    else the better end)."""

    def __init__(self, fam: str, idx: Array, params: dict[str, Array], L: Array, H: Array,
                 zero_ok: Array, limited: Array):
        self.fam, self.idx, self.params = fam, idx, params
        ng = len(idx)
        self.L, self.H = L, H
        if fam == "hill":
            s, k = params["s"], params["k"]
            self.sshape = s > 1.0
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(self.sshape, (s - 1.0) / (s + 1.0), 1.0)
                self.infl = np.where(self.sshape, k * ratio ** (1.0 / s), 0.0)
                self.v_peak = np.where(self.sshape, np.log(ratio), -np.inf)
            a = 1.0 - 1.0 / s
            self.a = a
            # sup of ln f' - ln(V s / k) over v: at the peak (S), 0 (s = 1), +inf (s < 1)
            with np.errstate(invalid="ignore"):
                hp = a * self.v_peak - 2.0 * _softplus(self.v_peak)
            self.h_sup = np.where(self.sshape, hp, np.where(s == 1.0, 0.0, np.inf))
            self.lnc0 = np.log(k / (params["vmax"] * s))  # ln c = ln t + lnc0
            self.v_fall = np.where(self.sshape, self.v_peak + 1.0, 0.0)  # warm starts
            self.v_rise = np.where(self.sshape, self.v_peak - 1.0, 0.0)
        else:
            self.sshape = np.zeros(ng, dtype=bool)
            self.infl = np.zeros(ng)
        self.h = np.maximum(L, self.infl)  # start of the concave part of the allowed set
        self.on_ok = L <= H
        self.high_ok = self.on_ok & (H >= self.h)
        self.f_L, self.f_H, self.f_h = self.value(L), self.value(H), self.value(self.h)
        self.zero_slot = zero_ok & ((L > 0) | limited)
        self.foot_slot = self.on_ok & (L < self.h) & self.high_ok
        self.top_static = self.on_ok & ~self.high_ok  # all of [L, H] is convex foot
        self.rise_ok = self.sshape & self.on_ok & (L < self.infl)
        self.signed = True  # alpha may be negative (set by the model from its rows)

    # -- curve pieces on this group's arrays
    def value(self, x: Array, sub=None) -> Array:
        p = self.params if sub is None else {k: v[sub] for k, v in self.params.items()}
        return cv._VALUE[self.fam](x, **p)

    def _hill_roots(self, lnt: Array, sub: Array, falling: bool):
        """v with ln f'(x(v)) = lnt on the falling (rising) branch, for lines `sub`; also
        the relative error f'(x(v)) / t - 1 left at the final v."""
        a = self.a[sub]
        target = lnt + self.lnc0[sub]
        v = (self.v_fall if falling else self.v_rise)[sub].copy()
        peak = self.v_peak[sub]
        if falling:
            v = np.where(self.sshape[sub], np.maximum(v, peak + 1e-3), v)
        else:
            v = np.minimum(v, peak - 1e-3)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            live = np.arange(len(v))  # lines still moving: converged ones drop out
            for it in range(_NEWTON_STEPS):
                w, aw, tw = v[live], a[live], target[live]
                e = np.exp(-np.abs(w))
                sig = np.where(w >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
                g = aw * w - 2.0 * (np.maximum(w, 0.0) + np.log1p(e)) - tw
                step = g / (aw - 2.0 * sig)
                step = np.where(np.isfinite(step), step, 0.0)
                w = w - step
                v[live] = w
                moving = np.abs(step) > 1e-12 * (1.0 + np.abs(w))
                if not moving.any():
                    break
                if it >= 1 and moving.mean() < 0.5:
                    live = live[moving]
            g = a * v - 2.0 * _softplus(v) - target
        keep = self.v_fall if falling else self.v_rise
        keep[sub] = np.where(np.isfinite(v), v, keep[sub])
        return v, np.expm1(g)

    def _falling(self, alpha: Array, beta: Array, sub: Array):
        """Lines `sub` (alpha > 0): the falling root of alpha f'(x) = beta clipped to the
        concave part [h, H]. Returns x, f(x), f'(x) and f''(x) where interior (else 0), and
        a bound on how far phi(x) may lie below the true maximum there."""
        t = beta / alpha
        h, H = self.h[sub], self.H[sub]
        p = {k: v[sub] for k, v in self.params.items()}
        rel = np.zeros(len(sub))  # f'(x) / t - 1 at the computed root
        hill = self.fam == "hill"
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if hill:
                x = np.full(len(sub), np.inf)
                vv = np.zeros(len(sub))  # s ln(x / k) at the root
                pos = t > 0
                lnt = np.log(np.where(pos, t, 1.0))
                none = pos & (lnt + self.lnc0[sub] >= self.h_sup[sub])  # f' < t all along
                x[none] = 0.0
                todo = np.flatnonzero(pos & ~none)
                if len(todo):
                    v, rel[todo] = self._hill_roots(lnt[todo], sub[todo], True)
                    vv[todo] = v
                    x[todo] = p["k"][todo] * np.exp(v / p["s"][todo])
            else:
                x = cv._marginal_inverse(self.fam, t, p)
        xc = np.clip(x, h, H)
        inner = (xc > h) & (xc < H) & (t > 0)
        f = np.where(xc <= h, self.f_h[sub], np.where(xc >= H, self.f_H[sub], 0.0))
        fpp = np.zeros(len(sub))
        slack = np.zeros(len(sub))
        ii = np.flatnonzero(inner)
        if len(ii):
            xi, ti = xc[ii], t[ii]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                if hill:  # in v: f = vmax sigmoid(v), f'' = t (a - 2 sigmoid(v)) s / x
                    sig = _sigmoid(vv[ii])
                    f[ii] = p["vmax"][ii] * sig
                    fpp[ii] = ti * (self.a[sub[ii]] - 2.0 * sig) * p["s"][ii] / xi
                else:
                    f[ii] = self.value(xi, sub[ii])
                    if self.fam == "exponential":
                        fpp[ii] = -ti / p["k"][ii]
                    elif self.fam == "power":
                        fpp[ii] = (p["b"][ii] - 1.0) * ti / xi
                    elif self.fam == "log":
                        fpp[ii] = -ti / (p["k"][ii] + xi)
            # Newton from the falling side ends at or right of the root, where phi is
            # concave and falls: phi's maximum on [h, x] is at most phi(x) + |phi'(x)| (x - h)
            slack[ii] = alpha[ii] * ti * np.abs(rel[ii]) * (xi - h[ii])
        fp = np.where(inner, t, 0.0)
        return xc, f, fp, fpp, slack

    def _rising(self, alpha: Array, beta: Array, sub: Array):
        """S-curves with alpha < 0 and beta < 0: the rising root of f'(x) = beta / alpha
        clipped to the convex foot [L, min(infl, H)], where phi is concave."""
        t = beta / alpha
        lo, top = self.L[sub], np.minimum(self.infl[sub], self.H[sub])
        lnt = np.log(t)
        none = lnt + self.lnc0[sub] >= self.h_sup[sub]  # f' < t: phi rises all along
        x = np.where(none, top, 0.0)
        rel = np.zeros(len(sub))
        todo = np.flatnonzero(~none)
        if len(todo):
            v, rel[todo] = self._hill_roots(lnt[todo], sub[todo], False)
            s, k = self.params["s"][sub[todo]], self.params["k"][sub[todo]]
            with np.errstate(over="ignore"):
                x[todo] = k * np.exp(v / s)
        xc = np.clip(x, lo, top)
        inner = (xc > lo) & (xc < top)
        f = self.value(xc, sub)
        fpp = np.zeros(len(sub))
        slack = np.zeros(len(sub))
        ii = np.flatnonzero(inner)
        if len(ii):
            s = self.params["s"][sub[ii]]
            xi = xc[ii]
            v = s * np.log(xi / self.params["k"][sub[ii]])
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                fpp[ii] = t[ii] * (self.a[sub[ii]] - 2.0 * _sigmoid(v)) * s / xi
            # Newton from the left ends at or left of the root: phi rises there
            slack[ii] = -alpha[ii] * t[ii] * np.abs(rel[ii]) * (top[ii] - xi)
        return xc, f, np.where(inner, t, 0.0), fpp, slack

    def columns(self, alpha: Array, beta: Array, allow: Array | None = None) -> list[Col]:
        ng = len(self.idx)
        pos = alpha > 0

        def ok(mask: Array, region) -> Array:
            return mask if allow is None else mask & (allow == region)

        cols = []
        v = ok(self.zero_slot, ZERO)
        if v.any():
            z = np.zeros(ng)
            cols.append(Col(z, z, v, ZERO))
        # the foot [L, top], top = min(infl, H): phi is convex there where alpha >= 0, so
        # L and top (the h column below) hold its maximum. Where alpha may be negative (an
        # outcome that hurts a row) a further column holds phi's exact maximum on the foot
        # (the rising root where alpha < 0 and beta < 0, else the better end): always
        # there, so that the smoothed dual stays continuous
        v = ok(self.foot_slot | self.top_static, FOOT)
        if v.any():
            cols.append(Col(self.L, self.f_L, v, FOOT))
        v = (self.foot_slot | self.top_static) & self.rise_ok
        v = v & (allow == RISE) if allow is not None else v
        if self.signed and v.any():
            top_x = np.minimum(self.infl, self.H)
            f_top = np.where(self.top_static, self.f_H, self.f_h)
            end_l = alpha * self.f_L - beta * self.L >= alpha * f_top - beta * top_x
            x = np.where(end_l, self.L, top_x)
            f = np.where(end_l, self.f_L, f_top)
            fp, curv, slack = np.zeros(ng), np.zeros(ng), np.zeros(ng)
            rise = np.flatnonzero(v & (alpha < 0) & (beta < 0))
            if len(rise):
                xs, fs, d1, d2, sl = self._rising(alpha[rise], beta[rise], rise)
                x[rise], f[rise], fp[rise], slack[rise] = xs, fs, d1, sl
                with np.errstate(divide="ignore", invalid="ignore"):
                    c = np.where(d2 > 0, 1.0 / (-alpha[rise] * d2), 0.0)
                curv[rise] = np.where(np.isfinite(c), c, 0.0)
            cols.append(Col(x, f, v, RISE, fp, curv, slack))
        # the concave part [h, H]: its maximum (the falling root where alpha > 0, else the
        # better end), and both ends as candidates of their own: where alpha is small the
        # maximum jumps between the ends as prices move, and the mix over the three is
        # smooth. Every column is there at every price, so the smoothed dual is continuous.
        top = self.top_static & (allow == TOP if allow is not None else True)
        v = top | ok(self.high_ok, HIGH)
        if v.any():
            cols.append(Col(self.H, self.f_H, v, np.where(self.top_static, TOP, HIGH)))
        v = ok(self.high_ok, HIGH)
        if v.any():
            cols.append(Col(self.h, self.f_h, v, HIGH))
            end_h = alpha * self.f_h - beta * self.h >= alpha * self.f_H - beta * self.H
            x = np.where(end_h, self.h, self.H)
            f = np.where(end_h, self.f_h, self.f_H)
            fp, curv, slack = np.zeros(ng), np.zeros(ng), np.zeros(ng)
            sub = np.flatnonzero(v & pos)
            if len(sub):
                xs, fs, d1, d2, sl = self._falling(alpha[sub], beta[sub], sub)
                x[sub], f[sub], fp[sub], slack[sub] = xs, fs, d1, sl
                with np.errstate(divide="ignore", invalid="ignore"):
                    c = np.where(d2 < 0, 1.0 / (alpha[sub] * -d2), 0.0)
                curv[sub] = np.where(np.isfinite(c), c, 0.0)
            cols.append(Col(x, f, v, HIGH, fp, curv, slack))
        return cols


class _Table:
    """Piecewise-linear lines (linear, power with b = 1, points): a fixed table of candidate
    spends, the breakpoints in the allowed set, and regions between convex kinks."""

    def __init__(self, fam: str, idx: Array, X: Array, F: Array, valid: Array, region: Array):
        self.fam, self.idx = fam, idx
        self.X, self.F, self.valid0, self.region = X, F, valid, region  # K x ng
        self.K = X.shape[0]

    @classmethod
    def build(cls, fam: str, idx: Array, curves: list, L: Array, H: Array, zero_ok: Array,
              limited: Array) -> _Table:
        rows = []
        for j, c in enumerate(curves):
            lo, hi = float(L[j]), float(H[j])
            if isinstance(c, cv.Points):
                bp = np.array(c.spend, dtype=float)
                pts = np.r_[lo, bp[(bp > lo) & (bp < hi)], hi] if lo <= hi else np.zeros(0)
            elif isinstance(c, cv.Linear):
                kink = c.cap * c.cost_per_outcome
                pts = np.r_[lo, kink, hi] if lo < kink < hi else np.r_[lo, hi]
                pts = pts if lo <= hi else np.zeros(0)
            else:  # power with b = 1: a straight line
                pts = np.r_[lo, hi] if lo <= hi else np.zeros(0)
            pts = np.unique(pts)
            f = c.value(pts) if len(pts) else np.zeros(0)
            # region ids: a new region starts at every convex kink (slope rises)
            reg = np.full(len(pts), 2, dtype=np.int16)
            if len(pts) > 2:
                slope = np.diff(f) / np.diff(pts)
                rise = np.r_[False, np.diff(slope) > 1e-12 * (1 + np.abs(slope[:-1]))]
                # the kink vertex opens the next region
                reg = (2 + np.cumsum(np.r_[rise, False])).astype(np.int16)
            zero = bool(zero_ok[j]) and (lo > 0 or bool(limited[j]))
            xs = np.r_[0.0, pts] if zero else pts
            fs = np.r_[float(c.value(0.0)), f] if zero else f
            rs = np.r_[np.int16(0), reg] if zero else reg
            rows.append((xs, fs, rs))
        K = max((len(r[0]) for r in rows), default=1) or 1
        ng = len(idx)
        X, F = np.zeros((ng, K)), np.zeros((ng, K))
        valid = np.zeros((ng, K), dtype=bool)
        region = np.full((ng, K), -1, dtype=np.int16)
        for j, (xs, fs, rs) in enumerate(rows):
            X[j, : len(xs)], F[j, : len(xs)], valid[j, : len(xs)] = xs, fs, True
            region[j, : len(xs)] = rs
        return cls(fam, idx, np.ascontiguousarray(X.T), np.ascontiguousarray(F.T),
                   np.ascontiguousarray(valid.T), np.ascontiguousarray(region.T))

    def columns(self, alpha: Array, beta: Array, allow: Array | None = None) -> list[Col]:
        cols = []
        for k in range(self.K):
            v = self.valid0[k] if allow is None else self.valid0[k] & (self.region[k] == allow)
            if v.any():
                cols.append(Col(self.X[k], self.F[k], v, self.region[k]))
        return cols


class Lines:
    """All lines of a problem, grouped by family, with their allowed sets."""

    def __init__(self, p: Problem):
        n = p.n
        self.n = n
        self.zero_ok = p.lo <= 0
        self.L = np.maximum(p.lo, p.threshold)
        self.H = p.hi.astype(float).copy()
        limited = np.zeros(n, dtype=bool)
        for lim in p.active_limits:
            limited[lim.index] = True
        self.limited = limited
        self.groups: list = []
        bank = p.bank
        for fam, idx, params in bank.groups:
            idx = np.asarray(idx)
            if fam == "linear" or (fam == "power" and np.any(params["b"] >= 1.0)):
                lin = np.ones(len(idx), dtype=bool) if fam == "linear" else params["b"] >= 1.0
                if np.any(lin):
                    sub = idx[lin]
                    self.groups.append(_Table.build(
                        fam, sub, [bank[i] for i in sub], self.L[sub], self.H[sub],
                        self.zero_ok[sub], limited[sub]))
                if fam == "linear" or np.all(lin):
                    continue
                keep = ~lin
                idx = idx[keep]
                params = {k: v[keep] for k, v in params.items()}
            self.groups.append(_Smooth(fam, idx, params, self.L[idx], self.H[idx],
                                       self.zero_ok[idx], limited[idx]))
        if bank.points:
            idx = np.array(sorted(bank.points))
            self.groups.append(_Table.build("points", idx, [bank.points[i] for i in idx],
                                            self.L[idx], self.H[idx], self.zero_ok[idx],
                                            limited[idx]))
        self.infl = np.zeros(n)
        for g in self.groups:
            if isinstance(g, _Smooth):
                self.infl[g.idx] = g.infl

    def allow_negative_alpha(self, signed: bool) -> None:
        """Whether some multiplier can make a line's outcome worth less than nothing."""
        for g in self.groups:
            if isinstance(g, _Smooth):
                g.signed = signed

    def region_of(self, x: Array) -> Array:
        """The region each line's spend x lies in (for plans found elsewhere)."""
        out = np.full(self.n, HIGH, dtype=np.int16)
        for g in self.groups:
            xi = x[g.idx]
            if isinstance(g, _Smooth):
                r = np.where(xi >= g.h * (1 - 1e-12), np.where(g.top_static, TOP, HIGH), FOOT)
                r = np.where((xi <= 0) & g.zero_slot, ZERO, r)
                r = np.where(g.top_static & (xi < g.H * (1 - 1e-12)), FOOT, r)
            else:  # the region of the last candidate at or below x
                r = np.full(len(xi), -1, dtype=np.int16)
                for k in range(g.K):
                    at = g.valid0[k] & (g.X[k] <= xi * (1 + 1e-12) + 1e-12)
                    r = np.where(at, g.region[k], r)
            out[g.idx] = r
        return out

    @property
    def feasible_alone(self) -> Array:
        """Lines that have at least one allowed spend."""
        return self.zero_ok | (self.L <= self.H)
