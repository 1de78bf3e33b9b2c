"""The scenario file a fit writes: fitted curves scaled to the planning period, each with
a comment stating its data range and fit quality; today's run rate as the baseline; the
stages, platforms and the guideline preset. `validate` and `plan` take it as it is."""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

import numpy as np
import pandas as pd

from .. import __version__
from .. import curves as cv
from ..errors import AllocatorError
from .fitting import CARRYOVER_WIDTH, SATURATION_WIDTH, UNIT_DAYS, Fit, adstock
from .mapping import KPI_WORDS

__all__ = ["parse_period", "scenario_text", "line_notes", "carryover_accepted", "RUN_RATE_DAYS",
           "FIT_BY", "plan_periods", "HORIZON"]

RUN_RATE_DAYS = 28  # the baseline: the last four weeks' spend per day
# --by month plans by month but fits the days (months are too few: a curve needs 20
# periods with spend, carryover 60); --by week fits the weeks' totals with the daily model
FIT_BY = {"day": "day", "week": "week", "month": "day"}
HORIZON = {"month": 3, "week": 13}  # periods planned when --period does not say
HISTORY_WEIGHT = 0.01  # history: the periods whose carryover reaches the plan with >= 1 %
HISTORY_MAX = 12
UNIT_COST = {"awareness": ("CPM", 1000), "consideration": ("CPC", 1),
             "conversion": ("CPA", 1), "loyalty": ("cost per repeat purchase", 1),
             "advocacy": ("cost per referral", 1)}


def _period_start(text: str) -> date | None:
    """The first day of a --period given as a quarter, a month or a year (None for 90d)."""
    t = text.strip()
    if m := re.fullmatch(r"(\d{4})-?Q([1-4])", t, re.I):
        return date(int(m.group(1)), 3 * int(m.group(2)) - 2, 1)
    if m := re.fullmatch(r"(\d{4})-(\d{2})", t):
        return date(int(m.group(1)), int(m.group(2)), 1)
    if re.fullmatch(r"\d{4}", t):
        return date(int(t), 1, 1)
    return None


def _next_month(d: date) -> date:
    return date(d.year + (d.month == 12), 1 if d.month == 12 else d.month + 1, 1)


def plan_periods(by: str, last: date, period: str | None
                 ) -> tuple[list[str], list[tuple[date, date]], str]:
    """The plan's periods for --by month|week: labels, (first, last day) of each, and the
    rule in words. Months: the 3 months after the data (from the first whole month after
    its last day), or the months of --period; labels 2027-01. Weeks: the 13 weeks (Monday to
    Sunday) from the first Monday after the data's last day, or from the first Monday of
    --period (as many whole weeks as it holds); labels W01, W02, ..."""
    start = _period_start(period) if period else None
    if by == "month":
        first = start or _next_month(last)
        n = HORIZON["month"]
        if period:
            _, days = parse_period(period, last)
            end = first + timedelta(days=days)
            n = (end.year - first.year) * 12 + end.month - first.month
        out, spans, m = [], [], first
        for _ in range(max(n, 1)):
            nxt = _next_month(m)
            out.append(f"{m.year:04d}-{m.month:02d}")
            spans.append((m, nxt - timedelta(days=1)))
            m = nxt
        rule = (f"the months of {period}" if period else
                f"the {n} months after the data (which end {last})")
        return out, spans, rule
    base = start or last + timedelta(days=1)
    first = base + timedelta(days=(7 - base.weekday()) % 7)  # a Monday
    n = HORIZON["week"]
    if period:
        _, days = parse_period(period, last)
        n = max((days - (first - base).days) // 7, 1) if start else max(days // 7, 1)
    width = max(2, len(str(n)))
    labels = [f"W{k + 1:0{width}d}" for k in range(n)]
    spans = [(first + timedelta(days=7 * k), first + timedelta(days=7 * k + 6))
             for k in range(n)]
    rule = (f"the whole weeks of {period}" if start else
            f"{n} weeks after the data (whose last whole week ends {last})") + \
        f", Monday to Sunday: W{1:0{width}d} is {first} to {first + timedelta(days=6)}"
    return labels, spans, rule


def parse_period(text: str | None, last: date) -> tuple[str, int]:
    """'2026-Q1' (a quarter), '2026-03' (a month), '2026' (a year) or '90d' -> (label, days).
    None: the quarter after the data's last day."""
    if text is None:
        q = (last.month - 1) // 3 + 1
        year, q = (last.year + 1, 1) if q == 4 else (last.year, q + 1)
        text = f"{year}-Q{q}"
    t = text.strip()
    if m := re.fullmatch(r"(\d{4})-?Q([1-4])", t, re.I):
        year, q = int(m.group(1)), int(m.group(2))
        start = date(year, 3 * q - 2, 1)
        end = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
        return f"{year}-Q{q}", (end - start).days
    if m := re.fullmatch(r"(\d{4})-(\d{2})", t):
        year, month = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12:
            return t, calendar.monthrange(year, month)[1]
    if m := re.fullmatch(r"(\d{4})", t):
        return t, 366 if calendar.isleap(int(t)) else 365
    if m := re.fullmatch(r"(\d+)\s*d(ays?)?", t, re.I):
        return f"{m.group(1)} days", int(m.group(1))
    raise AllocatorError(f"--period: expected 2026-Q1, 2026-03, 2026 or 90d, got {text!r}")


def _g(v: float) -> str:
    return f"{v:.6g}"


def _curve_yaml(curve: cv.Curve) -> str:
    if isinstance(curve, cv.Hill):
        return f"type: hill, vmax: {_g(curve.vmax)}, k: {_g(curve.k)}, s: {curve.s:.4g}"
    if isinstance(curve, cv.Exponential):
        return f"type: exponential, vmax: {_g(curve.vmax)}, k: {_g(curve.k)}"
    if isinstance(curve, cv.Power):
        return f"type: power, a: {_g(curve.a)}, b: {curve.b:.4g}"
    return f"type: log, a: {_g(curve.a)}, k: {_g(curve.k)}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def carryover_accepted() -> bool:
    """Whether this allocator's scenario model takes `carryover:` on a line (plans over
    time); until it does, the fitted file carries it as a comment."""
    from ..scenario import LineSpec

    return "carryover" in LineSpec.model_fields


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _campaigns(f: Fit) -> list[str]:
    out = []
    for m in f.series.members:
        out.append(f"  #     {m['share']:>4.0%} {_quote(m['campaign'])} "
                   f"({m['outcome']:,.0f} {KPI_WORDS[f.series.kpi]}; stage by {m['why']})")
    return out


def line_notes(f: Fit, *, unit: str, currency: str, per_period: float) -> list[str]:
    """The comment block above a fitted line: what it is made of and how far to trust it."""
    s = f.series
    how = ("negative binomial maximum likelihood" if f.model.startswith("negative")
           else "robust least squares")
    scores = ", ".join(f"{k} {v:.4g}" for k, v in sorted(f.criterion.items(),
                                                           key=lambda kv: kv[1]))
    crit = "mean negative log-likelihood" if f.model.startswith("negative") else \
        "mean relative error"
    note = [f"  # {s.name}: {f.family} fitted on {int((s.spend > 0).sum())} {unit}s by {how} "
            f"(KPI {KPI_WORDS[s.kpi]}); R2 {f.r2:.2f}, error {f.error:.1%} (held out "
            f"{f.held_out[f.family]:.1%})",
            f"  #   campaigns ({len(s.members)}, share of the line's spend):", *_campaigns(f),
            f"  #   family chosen on {5} held-out blocks ({crit}, lower is better): {scores}; "
            + (f"{', '.join(f.rivals)} within 2 standard errors, so in the band too"
               if f.rivals else "no rival within 2 standard errors")]
    if f.weekday is not None:
        effects = ", ".join(f"{d} {w - 1:+.0%}" for d, w in zip(WEEKDAYS, f.weekday,
                                                                strict=True))
        note.append(f"  #   weekday effects (estimated; the curve is the average day): {effects}")
    note += [f"  #   {n}" for n in f.notes]
    note += [f"  #   spend seen {currency} {f.spend_min:,.0f} to {f.spend_max:,.0f} per {unit} "
             f"(5th-95th percentile, peak {f.spend_peak:,.0f}); curve scaled from per {unit} "
             f"to the period ({per_period:g} {unit}s, even pacing)",
             f"  #   90 % band over that range: x{f.low:.3f} to x{f.high:.3f} (low / high, read "
             "by the uncertainty analysis)",
             ("  #   saturation identified" if f.identified else
              "  #   saturation NOT identified: plan within the observed range or run a test")
             + f": at 1.5x the top spend seen the band is {f.saturation_width:.0%} wide "
             f"(identified below {SATURATION_WIDTH:.0%})"]
    for c in f.calibration:
        note.append(f"  #   calibrated by lift test {c['label']}: {c['incremental']:,.0f} "
                    f"incremental {KPI_WORDS[s.kpi]} per {c['per']} ({c['level']:.0%} interval "
                    f"{c['low']:,.0f}-{c['high']:,.0f}) at {currency} {c['spend']:,.0f} per "
                    f"{c['per']}; the exports' curve gave {c['before']:,.0f}, the level is "
                    f"scaled x{c['factor']:.3f} and now gives {c['curve']:,.0f}")
    note += [f"  #   WARNING: {w}" for w in f.warnings]
    note += [f"  #   CHECK: {flag}" for flag in s.flags]
    return note


def _stage_lines(fits: list[Fit], currency: str) -> list[str]:
    """A stage without revenue is valued at what it costs today (every euro returns one at
    today's average unit cost): a neutral start that finance should replace."""
    stages = list(dict.fromkeys(s for s in UNIT_COST if any(f.series.stage == s for f in fits)))
    stage_out = []
    for stage in stages:
        fs = [f for f in fits if f.series.stage == stage]
        spend = sum(float(f.series.spend.sum()) for f in fs)
        outcome = sum(float(f.series.outcome.sum()) for f in fs)
        kpis = "/".join(dict.fromkeys(KPI_WORDS[f.series.kpi] for f in fs))
        label_uc, per = UNIT_COST[stage]
        has_revenue = all(float(f.series.revenue.sum()) > 0 for f in fs)
        entry = f"  {stage}: {{kpi: {_quote(kpis)}, unit_cost_label: {label_uc}, per: {per}"
        comment = ""
        if not has_revenue and outcome > 0:
            value = spend / outcome
            entry += f", value_per_outcome: {_g(value)}"
            comment = (f"   # ASSUMPTION: valued at today's average cost ({currency} "
                       f"{value * per:,.2f} {label_uc}); replace with what one is worth")
        stage_out.append(entry + "}" + comment)
    return stage_out


def _daily_spend(f: Fit) -> pd.Series:
    """The line's spend per day (from the days of a week fit when it has them)."""
    s = f.series
    if s.within is not None and len(s.within) == len(s.spend):
        width = s.within.shape[1]
        idx = [pd.Timestamp(d) + pd.Timedelta(days=j) for d in s.dates for j in range(width)]
        out = pd.Series(np.ravel(s.within), index=pd.DatetimeIndex(idx)).dropna()
        return out.groupby(level=0).sum()
    return pd.Series(s.spend.astype(float), index=pd.DatetimeIndex(s.dates))


def _fitted_daily(f: Fit) -> pd.Series | None:
    """The fit's outcome per day of spend (for the seasonality ratios), or None when the
    fit is not a daily model."""
    if f.base_days != 1.0 or f.base_curve is None:
        return None
    x = _daily_spend(f)
    x = x.reindex(pd.date_range(x.index.min(), x.index.max()), fill_value=0.0)
    a = adstock(x.to_numpy(float), f.base_carryover)
    y = f.base_curve.value(a)
    if f.weekday is not None:
        y = y * f.weekday[x.index.day_of_week.to_numpy()]
    return pd.Series(np.where(x.to_numpy() > 0, y, 0.0), index=x.index)


def _outcome_daily(f: Fit) -> pd.Series | None:
    s = f.series
    if s.within is not None and len(s.within) == len(s.spend):
        return None  # week totals: the days' outcomes are not known
    return pd.Series(s.outcome.astype(float), index=pd.DatetimeIndex(s.dates))


def _seasonality(f: Fit) -> dict[int, float] | None:
    """Response factors per calendar month from the data's months: outcome over the fit's
    outcome in each month (over every year), scaled to average 1 over the 12 months.
    None unless the line's data cover each of the 12 months with spend."""
    s = f.series
    if f.base_days == 1.0 and _outcome_daily(f) is None:  # week totals, daily model
        fitted_d = _fitted_daily(f)
        if fitted_d is None:
            return None
        fitted = fitted_d.groupby(fitted_d.index.to_period("W-SUN").start_time).sum()
        obs = pd.Series(s.outcome.astype(float), index=pd.DatetimeIndex(s.dates))
        fitted = fitted.reindex(obs.index, fill_value=0.0)
        months = (obs.index + pd.Timedelta(days=3)).month  # a week's month: its Thursday's
    else:
        fitted = _fitted_daily(f)
        obs = _outcome_daily(f)
        if fitted is None or obs is None:
            return None
        fitted = fitted.reindex(obs.index, fill_value=0.0)
        months = obs.index.month
    num = obs.groupby(months).sum()
    den = fitted.groupby(months).sum()
    ok = (den > 0) & (num > 0)
    if int(ok.sum()) < 12:
        return None
    r = (num / den)[ok]
    r = r / r.mean()
    return {int(k): float(np.clip(v, 0.5, 2.0)) for k, v in r.items()}


def _history(f: Fit, spans: list[tuple[date, date]], run_rate: float
             ) -> tuple[list[float], list[str]]:
    """The line's spend in the periods `spans` (oldest first): observed, a period the data
    cover in part scaled to its days at the observed rate, a period after the data at
    today's run rate (per day). Returns the amounts and how each was found."""
    x = _daily_spend(f)
    first, last = x.index.min().date(), x.index.max().date()
    out, how = [], []
    for a, b in spans:
        days = (b - a).days + 1
        lo, hi = max(a, first), min(b, last)
        seen = (hi - lo).days + 1 if hi >= lo else 0
        if seen >= days:
            out.append(float(x[pd.Timestamp(a):pd.Timestamp(b)].sum()))
            how.append("observed")
        elif seen > 0:
            out.append(float(x[pd.Timestamp(lo):pd.Timestamp(hi)].sum()) * days / seen)
            how.append(f"{seen} of {days} days observed, scaled to {days}")
        else:
            out.append(run_rate * days)
            how.append("after the data: today's run rate")
    return out, how


def _periods_text(fits: list[Fit], *, period: str | None, by: str, multiple: float,
                  sources: list[str], skipped: list[str]) -> str:
    """A scenario over periods (--by month|week): the plan's periods after the data, each
    line's curve of effective spend per period with its carryover and history, and
    seasonality from the data's months when they cover a year."""
    last = pd.Timestamp(max(max(f.series.dates) for f in fits)).date()
    first = pd.Timestamp(min(min(f.series.dates) for f in fits)).date()
    if FIT_BY[by] == "week":  # dates are week starts: the data run to the week's Sunday
        last += timedelta(days=6)
    labels, spans, rule = plan_periods(by, last, period)
    plan_start = spans[0][0]
    P = 365.25 / 12 if by == "month" else 7.0  # days per period of the curves
    unit, fit_unit = by, FIT_BY[by]
    U = UNIT_DAYS[fit_unit]
    n = P / U  # fitted periods per plan period
    currency = next((f.series.currency for f in fits if f.series.currency), "EUR")
    platforms = list(dict.fromkeys(f.series.platform for f in fits))
    year = (last - first).days + 1 >= 365

    def month_of(span: tuple[date, date]) -> int:
        return span[0].month if by == "month" else (span[0] + timedelta(days=3)).month

    lines_out, seasonal, total = [], [], 0.0
    for f in fits:
        s = f.series
        x = _daily_spend(f)
        recent = x[x.index >= pd.Timestamp(x.index.max() - pd.Timedelta(days=RUN_RATE_DAYS - 1))]
        run_rate = float(recent.sum()) / RUN_RATE_DAYS  # per day
        baseline = round(run_rate * P)
        total += baseline * len(labels)
        curve, c, (c_lo, c_hi) = f.for_period(P)
        note = line_notes(f, unit=fit_unit, currency=currency, per_period=n)
        body = [f"  - name: {s.name}", f"    stage: {s.stage}", f"    platform: {s.platform}"]
        if s.market:
            body.append(f"    market: {_quote(s.market)}")
        band = f"low: {f.low:.4f}, high: {f.high:.4f}"
        body.append(f"    curve: {{{_curve_yaml(curve)}, {band}}}   # per {unit} of effective "
                    f"spend per {unit}")
        if f.carryover_identified and c >= 0.0005:
            body.append(f"    carryover: {c:.3f}   # per {unit}, geometric, before saturation "
                        f"(90 % interval {c_lo:.3f}-{c_hi:.3f}; "
                        + (f"{f.base_carryover:.2f} per day, fitted" if f.base_days == 1.0 and
                           fit_unit != "day" or by == "month" else "fitted") + ")")
            h = 1
            while h < HISTORY_MAX and c ** (h + 1) >= HISTORY_WEIGHT:
                h += 1
            hist_spans = []
            end = plan_start
            for _ in range(h):
                if by == "month":
                    a = date(end.year - (end.month == 1), 12 if end.month == 1 else
                             end.month - 1, 1)
                else:
                    a = end - timedelta(days=7)
                hist_spans.insert(0, (a, end - timedelta(days=1)))
                end = a
            hist_spans = [sp for sp in hist_spans if sp[1] >= x.index.min().date()]
            if hist_spans:
                amounts, how = _history(f, hist_spans, run_rate)
                names = ", ".join(f"{_label(sp, by)} {h_}" for sp, h_ in zip(
                    hist_spans, how, strict=True))
                body.append(f"    history: [{', '.join(f'{v:.0f}' for v in amounts)}]   # "
                            f"spend before the plan, oldest first ({names}); the {unit}s "
                            f"whose carryover reaches the plan with at least "
                            f"{HISTORY_WEIGHT:.0%}")
        elif f.carryover_identified:
            body.append(f"    # carryover: {c:.4f} per {unit} is negligible (from "
                        f"{f.base_carryover:.2f} per day), so none is written")
        elif c_hi > 0 and c_lo == 0.0 and f.base_interval[1] - f.base_interval[0] < \
                CARRYOVER_WIDTH:
            body.append(f"    # no carryover: none found (at most {c_hi:.3f} per {unit})")
        elif c_hi > 0:
            body.append(f"    # no carryover: not identified (the data allow {c_lo:.3f} to "
                        f"{c_hi:.3f} per {unit}); the curve assumes none")
        else:
            body.append("    # no carryover: not estimated (see the note above); the curve "
                        "assumes none")
        revenue, outcome = float(s.revenue.sum()), float(s.outcome.sum())
        if revenue > 0 and outcome > 0:
            body.append(f"    revenue_per_outcome: {revenue / outcome:.2f}   "
                        f"# {currency} {revenue:,.0f} over {outcome:,.0f} {KPI_WORDS[s.kpi]}")
        body.append(f"    baseline: {baseline:.0f}   # today's run rate per {unit}: {currency} "
                    f"{run_rate:,.0f} per day over the last {RUN_RATE_DAYS} days")
        cap = multiple * f.spend_peak * n
        body.append(f"    max: {cap:.0f}   # per {unit}: {multiple:g}x the peak {fit_unit} seen "
                    f"x {n:.4g}: the curve is not known beyond; raise it at your own risk")
        lines_out.append("\n".join(note + body))
        if year:
            factors = _seasonality(f)
            if factors is not None:
                per = {lab: factors.get(month_of(sp), 1.0)
                       for lab, sp in zip(labels, spans, strict=True)}
                if any(abs(v - 1) >= 0.005 for v in per.values()):
                    seasonal.append(f"    - select: {{name: {s.name}}}")
                    seasonal.append("      response: {" + ", ".join(
                        f"{lab}: {v:.2f}" for lab, v in per.items()) + "}")

    horizon = (f"{labels[0]} .. {labels[-1]}" if len(labels) > 1 else labels[0])
    unit_words = (f"an average month of {P:.2f} days (the same curve in a 28- and a 31-day "
                  "month)" if by == "month" else "a week of 7 days")
    text = [
        f"# Fitted by allocator {__version__} fit --by {by} from {len(sources)} export(s):",
        *[f"#   {src}" for src in sources],
        f"# Data {first} to {last}, fitted per {fit_unit}"
        + (" (months are too few to fit a curve on: it needs 20 periods with spend, "
           "carryover 60)" if by == "month" else "") + ".",
        f"# Periods: {rule}; labels {horizon}.",
        f"# Each curve gives the outcome per {unit} of the effective spend per {unit}: the "
        f"{unit}'s",
        f"# spend plus the carryover of earlier {unit}s' (before saturation), for",
        f"# {unit_words}, spent evenly over its days.",
        f"# Spend held at X per {unit} lasts at X / (1 - carryover), so the curve at that "
        "level",
        f"# is the response to X per {unit} sustained.",
        f"# carryover: per {unit}, written where the fit identifies it (its 90 % interval in "
        "the comment);",
        f"# history: the line's spend in the {unit}s just before the plan, oldest first.",
        "# The carryover of the last periods' spend after the plan is not counted "
        "(count_after: 0).",
        "# Bands are 90 % over the spend each line's data covers.",
        "# Check the ASSUMPTION and WARNING comments before you trust a plan.",
    ]
    if skipped:
        text += ["# Not fitted (--skip-bad):", *[f"#   {s}" for s in skipped]]
    text += [
        f"name: {_quote('Fitted from ad exports, ' + horizon)}",
        f"currency: {currency}",
        f"budget: {total:.0f}   # today's run rate over the {len(labels)} {unit}s; change it "
        "to plan another",
        "",
        "stages:",
        *_stage_lines(fits, currency),
        "",
        f"platforms: [{', '.join(platforms)}]",
        "",
        "periods:",
        f"  labels: {horizon}",
    ]
    if seasonal:
        text += [f"  # seasonality from the data's months ({first} to {last}): each line's "
                 "outcome over its fitted",
                 "  # outcome in that calendar month, scaled to average 1 over the year"
                 + ("; a week takes its Thursday's month" if by == "week" else ""),
                 "  seasonality:", *seasonal]
    elif year:
        text.append("  # no seasonality: no line's months differ from its fit")
    else:
        text.append(f"  # no seasonality: the data cover {(last - first).days + 1} days, less "
                    "than a year, so the months cannot be told from spend")
    text += [
        "  count_after: 0",
        "",
        "lines:",
        *lines_out,
        "",
        "# the paid social funnel guideline (70-80 % awareness, 5-15 % consideration,",
        "# 10-20 % conversion) on the plan's spend, soft: a percentage point outside a band",
        "# costs half of a hundredth of the budget",
        "guidelines:",
        "  preset: paid-social-funnel",
        "  enforce: soft",
        f"  penalty_per_point: {total / 200:.0f}",
        "",
        "objective: value",
        "",
    ]
    return "\n".join(text)


def _label(span: tuple[date, date], by: str) -> str:
    a = span[0]
    return f"{a.year:04d}-{a.month:02d}" if by == "month" else f"week of {a}"


def scenario_text(fits: list[Fit], *, period: str | None, by: str, multiple: float,
                  sources: list[str], skipped: list[str]) -> str:
    """The scenario as YAML text with comments: one period (--by day), or a scenario over
    periods (--by month|week)."""
    if by != "day":
        return _periods_text(fits, period=period, by=by, multiple=multiple, sources=sources,
                             skipped=skipped)
    last = pd.Timestamp(max(max(f.series.dates) for f in fits)).date()
    label, days = parse_period(period, last)
    unit = by
    per_period = round(days / UNIT_DAYS[by], 4)  # fitted periods in the planning period
    currency = next((f.series.currency for f in fits if f.series.currency), "EUR")
    platforms = list(dict.fromkeys(f.series.platform for f in fits))
    first = pd.Timestamp(min(min(f.series.dates) for f in fits)).date()
    # the scenario model takes carryover only with periods: (plans over time); this file is
    # one period, so the curve is the response to sustained spend and carryover a comment
    takes_carryover = False

    lines_out = []
    baselines = {}
    for f in fits:
        s = f.series
        recent = s.dates >= np.datetime64(last - timedelta(days=RUN_RATE_DAYS - 1))
        n_recent = max(RUN_RATE_DAYS / UNIT_DAYS[by], 1.0)
        run_rate = float(s.spend[recent].sum()) / n_recent
        baselines[s.name] = run_rate * per_period
        cap = multiple * f.spend_peak * per_period
        note = line_notes(f, unit=unit, currency=currency, per_period=per_period)
        revenue = float(s.revenue.sum())
        outcome = float(s.outcome.sum())
        body = [f"  - name: {s.name}", f"    stage: {s.stage}", f"    platform: {s.platform}"]
        if s.market:
            body.append(f"    market: {_quote(s.market)}")
        band = f"low: {f.low:.4f}, high: {f.high:.4f}"
        if f.carryover_identified and takes_carryover:
            curve = cv.scaled(f.curve, outcome=per_period, cost=per_period)
            body.append(f"    curve: {{{_curve_yaml(curve)}, {band}}}   # of effective spend")
            body.append(f"    carryover: {f.carryover:.3f}   # per {unit} (the fit's --by "
                        "unit), geometric, before saturation")
        else:
            curve = cv.scaled(f.response, outcome=per_period, cost=per_period)
            body.append(f"    curve: {{{_curve_yaml(curve)}, {band}}}")
            if f.carryover_identified:
                eff = cv.scaled(f.curve, outcome=per_period, cost=per_period)
                body.append(f"    # carryover: {f.carryover:.3f}   # per {unit} (the fit's --by "
                            "unit), before saturation. Commented out: carryover needs "
                            "periods: (plans over time) and this scenario is one period, so "
                            "the curve above is the response to spend sustained at that level "
                            "(carryover folded in). With periods, use the curve of effective "
                            "spend: "
                            f"curve: {{{_curve_yaml(eff)}, {band}}}")
        if revenue > 0 and outcome > 0:
            body.append(f"    revenue_per_outcome: {revenue / outcome:.2f}   "
                        f"# {currency} {revenue:,.0f} over {outcome:,.0f} {KPI_WORDS[s.kpi]}")
        body.append(f"    baseline: {baselines[s.name]:.0f}   # today's run rate: "
                    f"{currency} {run_rate:,.0f} per {unit} over the last {RUN_RATE_DAYS} days")
        body.append(f"    max: {cap:.0f}   # {multiple:g}x the peak {unit} seen: the curve is "
                    "not known beyond; raise it at your own risk")
        lines_out.append("\n".join(note + body))

    stage_out = _stage_lines(fits, currency)

    budget = sum(baselines.values())
    point = budget / 100
    text = [
        f"# Fitted by allocator {__version__} fit from {len(sources)} export(s):",
        *[f"#   {src}" for src in sources],
        f"# Data {first} to {last}, per {unit}. Planning period {label}: {days} days.",
        "# Each curve is fitted per " + unit + " and scaled to the period at even pacing;",
        "# its comment says what the data covers, which campaigns it holds, how well it fits.",
        f"# carryover is per {unit} (the fit's unit); a line without it has none the data",
        "# could identify. Bands are 90 % over the spend each line's data covers.",
        "# Check the ASSUMPTION and WARNING comments before you trust a plan.",
    ]
    if skipped:
        text += ["# Not fitted (--skip-bad):", *[f"#   {s}" for s in skipped]]
    text += [
        f"name: {_quote('Fitted from ad exports, ' + label)}",
        f"currency: {currency}",
        f"period: {_quote(label)}",
        f"budget: {budget:.0f}   # today's run rate over the period; change it to plan another",
        "",
        "stages:",
        *stage_out,
        "",
        f"platforms: [{', '.join(platforms)}]",
        "",
        "lines:",
        *lines_out,
        "",
        "# the paid social funnel guideline (70-80 % awareness, 5-15 % consideration,",
        "# 10-20 % conversion), soft: a percentage point outside a band costs half of it",
        "guidelines:",
        "  preset: paid-social-funnel",
        "  enforce: soft",
        f"  penalty_per_point: {point / 2:.0f}",
        "",
        "objective: value",
        "",
    ]
    return "\n".join(text)
