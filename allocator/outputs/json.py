"""JSON: plan.json and comparison.json (no NaN: missing numbers are null)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import __version__
from ..analysis.compare import Comparison
from ..plan import Plan, input_hash

__all__ = ["plan_json", "comparison_json", "dumps"]


def plan_json(plan: Plan, source: str | Path | None = None) -> dict:
    """The plan as plan.json holds it, with the input file and its hash when known."""
    data = plan.to_dict()
    if plan.timeline is not None:
        data["periods"] = plan.timeline.to_dict()
    if source is not None:
        data["tool"]["input"] = str(source)
        data["tool"]["input_sha256"] = input_hash(source)
    return data


def comparison_json(cmp: Comparison) -> dict:
    wide = cmp.wide().replace({np.nan: None})
    return {
        "variants": [{"label": v.label, "description": v.description, "changes": v.changes,
                      "status": p.solution.status, "gap": p.solution.gap,
                      "objective": p.solution.objective, "total_spend": p.total_spend,
                      "lines": json.loads(p.lines[["line", "spend", "outcome"]].to_json(
                          orient="records"))}
                     for v, p in zip(cmp.variants, cmp.plans, strict=True)],
        "comparison": wide.to_dict(orient="records"),
        "tool": {"name": "allocator", "version": __version__},
    }


def dumps(data: dict) -> str:
    return json.dumps(data, indent=2, allow_nan=False, default=str)
