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
from .fitting import SATURATION_WIDTH, UNIT_DAYS, Fit
from .mapping import KPI_WORDS

__all__ = ["parse_period", "scenario_text", "line_notes", "carryover_accepted", "RUN_RATE_DAYS"]

RUN_RATE_DAYS = 28  # the baseline: the last four weeks' spend per day
UNIT_COST = {"awareness": ("CPM", 1000), "consideration": ("CPC", 1),
             "conversion": ("CPA", 1), "loyalty": ("cost per repeat purchase", 1),
             "advocacy": ("cost per referral", 1)}


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


def scenario_text(fits: list[Fit], *, period: str | None, by: str, multiple: float,
                  sources: list[str], skipped: list[str]) -> str:
    """The scenario as YAML text with comments."""
    last = pd.Timestamp(max(max(f.series.dates) for f in fits)).date()
    label, days = parse_period(period, last)
    unit = by
    per_period = round(days / UNIT_DAYS[by], 4)  # fitted periods in the planning period
    currency = next((f.series.currency for f in fits if f.series.currency), "EUR")
    stages = list(dict.fromkeys(s for s in UNIT_COST if any(f.series.stage == s for f in fits)))
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

    # a stage without revenue is valued at what it costs today (every euro returns one at
    # today's average unit cost): a neutral start that finance should replace
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
