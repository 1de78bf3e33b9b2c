"""Piecewise-linear approximations of response curves, with their worst-case errors.

On each segment [a, b] the chord interpolates f. `over[k]` and `under[k]` bound how far f
rises above or falls below the chord there, so  chord - under <= f <= chord + over:
the MILP on chords finds plans, the MILP with that band gives a rigorous upper bound.
Segments never straddle a Hill inflection, so f - chord is unimodal on each one and a
golden-section search finds its extreme.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..curves import Curve, Hill, Points

__all__ = ["Segments", "initial_breakpoints", "segments", "refine", "adapt"]

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0
# no segment shorter than this fraction of the line's range (initial_breakpoints)
_LEAST = 1e-7
# no chord refine cuts steeper than this many times the line's mean slope (as the fine
# points of initial_breakpoints): HiGHS's tolerances (1e-7 of a spend) times the chord's
# slope must stay small against the outcome
_STEEPEST = 1e6


@dataclass(frozen=True)
class Segments:
    """One line's breakpoints with chord slopes and error bands per segment."""

    points: np.ndarray  # 0 = b_0 < b_1 < ... < b_K = hi
    values: np.ndarray  # f(b_k)
    over: np.ndarray  # max (f - chord) per segment, >= 0
    under: np.ndarray  # max (chord - f) per segment, >= 0
    d_left: np.ndarray  # f' just inside each segment's left end
    d_right: np.ndarray  # f' just inside each segment's right end
    # per segment: f' falls (rises) across it, so a tangent at an end lies above (below) f
    # there; where neither was seen the tangent cuts are not valid and are left out
    falls: np.ndarray | None = None
    rises: np.ndarray | None = None

    def covers(self, curve: Curve, x: float) -> bool:
        """Whether chord - under <= f <= chord + over holds at spend x (a spot check of the
        error band, made on every plan before its bound is trusted)."""
        if self.points[-1] <= 0:
            return True
        k = int(np.clip(np.searchsorted(self.points, x) - 1, 0, len(self.lengths) - 1))
        chord = self.values[k] + self.slopes[k] * (x - self.points[k])
        f = float(curve.value(x))
        slack = 1e-9 * (abs(f) + abs(chord)) + 1e-12
        return chord - self.under[k] - slack <= f <= chord + self.over[k] + slack

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.points)

    @property
    def slopes(self) -> np.ndarray:
        lengths = self.lengths  # a line capped at 0 has one empty segment: slope 0
        return np.diff(self.values) / np.where(lengths > 0, lengths, 1.0)

    @property
    def concave(self) -> bool:
        return bool(np.all(np.diff(self.slopes) <= 1e-12 * (1 + np.abs(self.slopes[:-1]))))

    def error_slopes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """How fast the error may grow from each end of a segment, as a fraction theta of it
        is filled: f - chord <= over_l * theta and <= over_r * (1 - theta) (concave parts),
        chord - f <= under_l * theta and <= under_r * (1 - theta) (convex parts)."""
        L, m = self.lengths, self.slopes
        over_l = L * np.maximum(self.d_left - m, 0.0)
        over_r = L * np.maximum(m - self.d_right, 0.0)
        under_l = L * np.maximum(m - self.d_left, 0.0)
        under_r = L * np.maximum(self.d_right - m, 0.0)
        if self.falls is not None:  # tangents bound f only where f is concave (convex)
            over_l, over_r = (np.where(self.falls, v, np.inf) for v in (over_l, over_r))
            under_l, under_r = (np.where(self.rises, v, np.inf) for v in (under_l, under_r))
        return over_l, over_r, under_l, under_r


def _extreme(curve: Curve, a: np.ndarray, b: np.ndarray, sign: float) -> np.ndarray:
    """max over [a, b] of sign * (f - chord), for all segments at once."""
    fa, fb = curve.value(a), curve.value(b)
    slope = (fb - fa) / (b - a)

    def d(x):
        return sign * (curve.value(x) - (fa + slope * (x - a)))

    lo, hi = a.copy(), b.copy()
    for _ in range(60):  # golden-section: d is unimodal on each segment
        x1, x2 = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
        left = d(x1) >= d(x2)
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
    d1, d2 = d(lo), d(hi)
    best = np.maximum(np.maximum(d1, d2), 0.0)
    # the search trusts d to be unimodal; a grid across the segment checks that trust on
    # curves whose numbers are extreme (and costs a fraction of the search)
    for j in range(1, 16):
        best = np.maximum(best, d(a + (b - a) * (j / 16.0)))
    # a hair of slack for the search's own precision and floating point
    return best * (1 + 1e-9) + 1e-12 * (np.abs(fa) + np.abs(fb))


def _must_have(curve: Curve, hi: float, extra: tuple[float, ...]) -> list[float]:
    pts = [0.0, hi, *extra]
    if isinstance(curve, Hill) and curve.s > 1:
        pts.append(curve.inflection)
    if isinstance(curve, Points):
        pts.extend(curve.spend)
    if np.isinf(curve.derivative(0.0)):  # infinite slope at zero: resolve the start finely
        # ... but not so finely that the first chord's slope dwarfs the rest of the model
        # (HiGHS refuses coefficients of 1e15 and more)
        fine = hi * 0.5 ** np.arange(4, 30, 2)
        mean = float(curve.value(hi)) / hi if hi > 0 else 0.0
        pts.extend(fine[curve.value(fine) <= _STEEPEST * mean * fine])
    return pts


def initial_breakpoints(curve: Curve, hi: float, k: int = 24,
                        extra: tuple[float, ...] = ()) -> np.ndarray:
    """Breakpoints spread both in spend and in outcome (where the curve bends most)."""
    if hi <= 0:
        return np.array([0.0, 0.0])
    uniform = np.linspace(0.0, hi, k // 2 + 1)
    top = float(curve.value(hi))
    by_outcome = curve.inverse(np.linspace(0.0, top, k // 2 + 1)) if top > 0 else uniform
    pts = np.concatenate([uniform, by_outcome, _must_have(curve, hi, extra)])
    pts = pts[np.isfinite(pts) & (pts >= 0) & (pts <= hi)]
    pts = np.unique(pts)
    # no segment shorter than 1e-7 of the line's range: HiGHS's tolerances (1e-6) cannot
    # tell a shorter one's binaries apart, and branch-and-bound then goes wrong. A curve
    # that does all its rising inside that sliver (a tiny k) keeps a valid error band:
    # segments of no known shape get the shape-free one (see segments)
    keep, last = [], -np.inf
    for x in pts:
        if x - last > _LEAST * hi or x == hi:
            if keep and x == hi and x - last <= _LEAST * hi:
                keep.pop()
            keep.append(x)
            last = x
    return np.array(keep)


def segments(curve: Curve, points: np.ndarray) -> Segments:
    values = curve.value(points)
    if len(points) < 2 or points[-1] <= 0:
        # a line held at 0 still earns f(0) (a points curve through (0, 4484.6)), which
        # rows such as a pool count: the one 'segment' keeps it
        z = np.zeros(1)
        f0 = float(np.asarray(curve.value(np.zeros(1)), dtype=float)[0])
        return Segments(np.array([0.0, 0.0]), np.full(2, f0), z, z, z, z)
    a, b = points[:-1], points[1:]
    # f' at each end from inside the segment: a points curve's derivative is the slope to
    # the right of x, so its right end is read a hair inside; smooth curves exactly at the
    # ends (a hair inside can already be past all of a steep curve's rise)
    d_left = curve.derivative(a)
    d_right = curve.derivative(b - 1e-9 * (b - a)) if isinstance(curve, Points) \
        else curve.derivative(b)
    # the slope across each segment, sampled: monotone or not
    grid = [d_left] + [curve.derivative(a + (b - a) * (j / 16.0)) for j in range(1, 16)] + \
        [d_right]
    steps = np.diff(np.array(grid), axis=0)
    slack = 1e-9 * np.max(np.abs(np.array(grid)), axis=0)
    with np.errstate(invalid="ignore"):
        falls = np.all(~(steps > slack), axis=0)
        rises = np.all(~(steps < -slack), axis=0)
    over, under = _extreme(curve, a, b, 1.0), _extreme(curve, a, b, -1.0)
    # where f' is not seen to be monotone across a segment (an inflection or a near-step
    # inside it) the search may miss a narrow peak of the error: take the shape-free band
    # of a rising curve, f(a) <= f, chord <= f(b), instead
    shapeless = ~(falls | rises)
    rise = np.abs(values[1:] - values[:-1])
    over = np.where(shapeless, np.maximum(over, rise), over)
    under = np.where(shapeless, np.maximum(under, rise), under)
    return Segments(points, values, over, under, d_left, d_right, falls, rises)


def refine(seg: Segments, curve: Curve, which: np.ndarray, pieces: int = 4) -> Segments:
    """Split the segments `which` into `pieces` equal parts each, but never into a chord
    steeper than `_STEEPEST` times the line's mean slope (the rule initial_breakpoints keeps
    for the fine points of a curve vertical at 0) nor shorter than 1e-12 of its range.
    HiGHS's answers on a model with such chords are wrong: a chord of slope 6.5e10 over
    5e-10 of spend (200628) and one of 1.2e9 over 2.6e-7 (209569) made it call 'optimal'
    a value far below a plan of the same model, and 'infeasible' a model with one at hand.
    A segment left whole keeps its (wider, valid) error band."""
    hi = float(seg.points[-1])
    a, b = seg.points[which], seg.points[which + 1]
    new = [a + (b - a) * j / pieces for j in range(1, pieces)]
    # a shape point (inflection, kink) inside a split segment becomes a breakpoint: the
    # pieces on either side then have a shape, and their error bands are tight
    shape = np.asarray(_must_have(curve, hi, ()), dtype=float)
    inside = shape[np.any((shape[:, None] > a) & (shape[:, None] < b), axis=1)]
    cand = np.unique(np.r_[*new, inside])
    if hi <= 0 or not len(cand):
        return seg
    values = np.asarray(curve.value(cand), dtype=float)
    f0, f1 = float(seg.values[0]), float(seg.values[-1])
    mean = abs(f1 - f0) / hi
    steep = _STEEPEST * (mean if mean > 0 else float(np.max(np.abs(seg.slopes))))
    least = 1e-12 * hi
    pts, vals = list(seg.points), list(seg.values)
    for x, v in zip(cand, values, strict=True):
        k = int(np.searchsorted(pts, x))  # pts[k - 1] < x <= pts[k]
        if k == 0 or k == len(pts) or not np.isfinite(v):
            continue
        left, right = x - pts[k - 1], pts[k] - x
        if min(left, right) <= least:
            continue
        if abs(v - vals[k - 1]) > steep * left or abs(vals[k] - v) > steep * right:
            continue  # a chord too steep for the MILP solver's tolerances: not cut
        pts.insert(k, x)
        vals.insert(k, v)
    if len(pts) == len(seg.points):
        return seg
    return segments(curve, np.array(pts))


def adapt(seg: Segments, curve: Curve, hi: float, extra: tuple[float, ...] = (),
          near: float | None = None, k: int = 12) -> Segments:
    """Reuse a refined line for a new spend ceiling (warm start of a sweep): a fresh coarse
    grid, plus the old fine breakpoints near where the last plan put this line (refinement
    elsewhere would only pile up from one sweep point to the next)."""
    pts = initial_breakpoints(curve, hi, k=k, extra=extra)
    if near is not None and near > 0:
        old = seg.points[(seg.points >= 0.6 * near) & (seg.points <= min(1.6 * near, hi))]
        pts = np.unique(np.r_[pts, old])
    return segments(curve, pts)
