"""Fitting speed: 50 lines of two years of daily data (one generic export, 36,500 rows),
read + mapped + fitted (4 families with and without carryover, 5 held-out blocks, the
90 % band), wall time on the machine's cores and peak memory.

    python benchmarks/fit.py [--lines 50] [--days 730] [--bootstrap 0]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from allocator.fit.pipeline import fit_exports  # noqa: E402
from allocator.fit.synthetic import TrueLine, simulate  # noqa: E402


def write_export(path: Path, lines: int, days: int) -> list[TrueLine]:
    rng = np.random.default_rng(0)
    stages = ["awareness", "consideration", "conversion", "loyalty", "advocacy"]
    truth, rows = [], ["date,campaign,platform,spend,outcome"]
    for i in range(lines):
        stage = stages[i % 5]
        line = TrueLine(f"p{i // 5}", stage, ((f"{stage} {i}", ""),),
                        float(rng.uniform(50, 5000)), float(rng.uniform(300, 3000)),
                        float(rng.uniform(0.7, 2.0)), float(rng.uniform(200, 2000)))
        truth.append(line)
        sim = simulate(line, days, date(2024, 11, 1), rng)
        for d, x, y in zip(sim["dates"], sim["spend"], sim["outcome"], strict=True):
            if x > 0:
                rows.append(f"{d},{stage} {i},{line.platform},{x:.2f},{y:.3f}")
    path.write_text("\n".join(rows) + "\n")
    return truth


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=50)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--bootstrap", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export.csv"
        mapping = Path(tmp) / "mapping.yaml"
        mapping.write_text("columns: {date: date, campaign: campaign, spend: spend, "
                           "outcome: outcome, platform: platform}\n")
        truth = write_export(export, args.lines, args.days)
        start = time.perf_counter()
        run = fit_exports([export], mapping=mapping, bootstrap=args.bootstrap)
        seconds = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    by_name = {f"{t.platform}-{t.stage}": t for t in truth}
    errs = []
    for f in run.fits:
        t = by_name[f.series.name]
        g = np.linspace(f.spend_min, f.spend_max, 40)
        errs.append(float(np.max(np.abs(f.value(g) / t.curve.value(g) - 1))))
    print(f"{len(run.fits)} lines x {args.days} days, bootstrap {args.bootstrap}: "
          f"{seconds:.2f} s; peak memory {own:.0f} MiB here, {children:.0f} MiB per worker")
    print(f"fit vs truth over the observed spend: median max-error {np.median(errs):.1%}, "
          f"worst {max(errs):.1%}")


if __name__ == "__main__":
    main()
