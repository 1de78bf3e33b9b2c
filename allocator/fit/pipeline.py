"""Exports in, fitted lines out: read, map campaigns to lines, fit each line (over the
machine's cores when there are many), and tabulate the fit quality."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..analysis.pool import map_chunks
from ..scenario import did_you_mean
from .fitting import Fit, Lift, fit_line
from .mapping import KPI_WORDS, LineSeries, build_lines, load_lifts, load_mapping
from .readers import ExportError, read_export

__all__ = ["FitRun", "fit_exports", "quality_table", "campaign_table"]


@dataclass
class FitRun:
    fits: list[Fit]
    skipped: list[str] = field(default_factory=list)  # lines or campaigns left out, and why
    sources: list[str] = field(default_factory=list)
    by: str = "day"


def _fit_chunk(series: list[LineSeries], bootstrap: int, by: str, lifts: list,
               carryover: bool) -> list:
    out = []
    for s in series:
        try:
            out.append(fit_line(s, bootstrap=bootstrap, by=by, lifts=lifts,
                                carryover=carryover))
        except ExportError as exc:
            out.append(exc)
    return out


SECONDS_PER_LINE = 0.2  # one line of two years of days (in-process below 15 s of work)


def fit_exports(files: list[str | Path], *, mapping: str | Path | None = None,
                by: str = "day", bootstrap: int = 0, skip_bad: bool = False,
                lift: str | Path | None = None, carryover: bool = True,
                progress: Callable[[int, int], None] | None = None) -> FitRun:
    """Read the exports, build the lines, fit each. `lift`: a file of lift tests (as the
    mapping file's `calibration:`); `bootstrap` > 0: a block bootstrap band instead of the
    sandwich one."""
    m = load_mapping(mapping)
    tests = list(m.calibration) + (load_lifts(lift) if lift is not None else [])
    exports, problems = [], []
    for f in files:
        try:
            exports.append(read_export(f, platform=m.platform if m.columns else None,
                                       columns=m.columns or None))
        except ExportError as exc:
            problems += exc.problems
    if problems:
        raise ExportError(problems)
    from .scenario_writer import FIT_BY

    plan_by, by = by, FIT_BY[by]  # --by month plans by month and fits the days
    lines, skipped = build_lines(exports, m, by=by, skip_bad=skip_bad)
    if not lines:
        raise ExportError(["no line to fit: " + ("; ".join(skipped) or "the exports are empty")])
    names = [ln.name for ln in lines]
    unknown = [t for t in tests if t.line not in names]
    if unknown:
        raise ExportError([f"lift test for line '{t.line}': no such line; the lines are "
                           f"{', '.join(names)}{did_you_mean(t.line, names)}" for t in unknown])
    lifts = [Lift(t.line, t.spend, t.incremental, t.low, t.high, t.per, t.level, t.label)
             for t in tests]
    work = SECONDS_PER_LINE * len(lines) * max(len(lines[0].spend), 1) / 730 * (
        1 + bootstrap / 20)
    results = map_chunks(_fit_chunk, lines, bootstrap, by, lifts, carryover, chunk=2,
                         parallel=work >= 4.0, work=work,
                         progress=(lambda done: progress(done, len(lines))) if progress
                         else None)
    fits, bad = [], []
    for r in results:
        if isinstance(r, Fit):
            fits.append(r)
        else:
            bad += r.problems
    if bad and not skip_bad:
        raise ExportError(bad + ["(add --skip-bad to fit the other lines and leave these out)"])
    if not fits:
        raise ExportError(bad or ["no line could be fitted"])
    return FitRun(fits, skipped + bad, [str(f) for f in files], plan_by)


def _pct(v: float) -> str:
    return f"{v:.1%}"


def quality_table(run: FitRun) -> pd.DataFrame:
    """One row per line: what was fitted and how well."""
    rows = []
    for f in run.fits:
        rows.append({
            "line": f.series.name, "KPI": KPI_WORDS[f.series.kpi],
            "model": "NB" if f.model.startswith("negative") else "LS",
            "family": f.family + (f" (+{len(f.rivals)})" if f.rivals else ""),
            "periods": int((f.series.spend > 0).sum()), "R2": round(f.r2, 3),
            "error": _pct(f.error), "held-out": _pct(f.held_out[f.family]),
            "spend seen": f"{f.spend_min:,.0f}-{f.spend_max:,.0f}",
            "band": f"x{f.low:.2f}-{f.high:.2f}",
            "carryover": _carry(f, run.by) if f.carryover_identified else "-",
            "saturation": "identified" if f.identified else "NOT identified",
        })
    return pd.DataFrame(rows)


def _carry(f: Fit, by: str) -> str:
    """The carryover per the plan's period (and per day when the fit is daily)."""
    from .scenario_writer import FIT_BY

    if FIT_BY[by] == by:
        return f"{f.carryover:.2f}/{by}" + (f" ({f.base_carryover:.2f}/day)"
                                            if f.base_days == 1.0 and by != "day" else "")
    c = f.for_period(365.25 / 12 if by == "month" else 7.0)[1]
    return f"{c:.3f}/{by} ({f.base_carryover:.2f}/day)"


def campaign_table(run: FitRun) -> pd.DataFrame:
    """Which campaigns make each line (--verbose): spend share, outcome, and why."""
    rows = []
    for f in run.fits:
        for m in f.series.members:
            rows.append({"line": f.series.name, "campaign": m["campaign"],
                         "file": Path(m["file"]).name, "spend share": f"{m['share']:.0%}",
                         KPI_COL: f"{m['outcome']:,.0f} {KPI_WORDS[f.series.kpi]}",
                         "stage by": m["why"]})
    return pd.DataFrame(rows)


KPI_COL = "outcome"
