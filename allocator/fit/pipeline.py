"""Exports in, fitted lines out: read, map campaigns to lines, fit each line (over the
machine's cores when there are many), and tabulate the fit quality."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..analysis.pool import map_chunks
from .fitting import Fit, fit_line
from .mapping import KPI_WORDS, LineSeries, build_lines, load_mapping
from .readers import ExportError, read_export

__all__ = ["FitRun", "fit_exports", "quality_table"]


@dataclass
class FitRun:
    fits: list[Fit]
    skipped: list[str] = field(default_factory=list)  # lines or campaigns left out, and why
    sources: list[str] = field(default_factory=list)


def _fit_chunk(series: list[LineSeries], bootstrap: int) -> list:
    out = []
    for s in series:
        try:
            out.append(fit_line(s, bootstrap=bootstrap))
        except ExportError as exc:
            out.append(exc)
    return out


def fit_exports(files: list[str | Path], *, mapping: str | Path | None = None,
                by: str = "day", bootstrap: int = 60, skip_bad: bool = False,
                progress: Callable[[int, int], None] | None = None) -> FitRun:
    m = load_mapping(mapping)
    exports, problems = [], []
    for f in files:
        try:
            exports.append(read_export(f, platform=m.platform if m.columns else None,
                                       columns=m.columns or None))
        except ExportError as exc:
            problems += exc.problems
    if problems:
        raise ExportError(problems)
    lines, skipped = build_lines(exports, m, by=by, skip_bad=skip_bad)
    if not lines:
        raise ExportError(["no line to fit: " + ("; ".join(skipped) or "the exports are empty")])
    results = map_chunks(_fit_chunk, lines, bootstrap, chunk=4, parallel=len(lines) > 8,
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
    return FitRun(fits, skipped + bad, [str(f) for f in files])


def quality_table(run: FitRun) -> pd.DataFrame:
    return pd.DataFrame([{
        "line": f.series.name, "KPI": KPI_WORDS[f.series.kpi], "family": f.family,
        "periods": len(f.series.spend), "R2": round(f.r2, 3), "MAPE": f"{f.mape:.1%}",
        "held-out MAPE": f"{f.held_out[f.family]:.1%}",
        "spend seen": f"{f.spend_min:,.0f}-{f.spend_max:,.0f}",
        "band": f"x{f.low:.2f}-{f.high:.2f}",
        "saturation": "identified" if f.identified else "NOT identified",
    } for f in run.fits])
