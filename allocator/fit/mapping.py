"""From campaigns to lines: which funnel stage each campaign serves, which column measures
that stage's KPI, and the daily (or weekly) series of each line (stage x platform, and
market when the mapping says how to read it from a campaign's name).

Stage: the mapping file's `campaigns`, then its `rules`, then the export's objective
column (each platform's objectives have a default stage), then words in the campaign name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ScenarioError
from ..source import parse_text
from .readers import Export, ExportError

__all__ = ["Mapping", "load_mapping", "LineSeries", "build_lines", "STAGE_KPIS"]

STAGES = ("awareness", "consideration", "conversion", "loyalty", "advocacy")

# the platforms' own objective names (Meta, Google campaign types, LinkedIn, TikTok)
OBJECTIVE_STAGE: dict[str, str] = {
    "outcome_awareness": "awareness", "awareness": "awareness", "reach": "awareness",
    "brand_awareness": "awareness", "brand awareness": "awareness", "video_views": "awareness",
    "video views": "awareness", "video": "awareness", "markenbekanntheit": "awareness",
    "reichweite": "awareness", "bekanntheit": "awareness",
    "outcome_traffic": "consideration", "traffic": "consideration",
    "link_clicks": "consideration", "outcome_engagement": "consideration",
    "engagement": "consideration", "post_engagement": "consideration",
    "website visits": "consideration", "display": "consideration",
    "demand gen": "consideration", "discovery": "consideration",
    "community interaction": "consideration", "interaktion": "consideration",
    "outcome_sales": "conversion", "sales": "conversion", "conversions": "conversion",
    "outcome_leads": "conversion", "leads": "conversion", "lead generation": "conversion",
    "lead_generation": "conversion", "website conversions": "conversion",
    "product sales": "conversion", "product_catalog_sales": "conversion",
    "search": "conversion", "shopping": "conversion", "performance max": "conversion",
    "app promotion": "conversion", "umsatz": "conversion", "verkäufe": "conversion",
}
NAME_RULES: list[tuple[str, str]] = [
    (r"loyal|retention|existing cust|crm|repeat|bestandskund", "loyalty"),
    (r"advoca|referr|ugc|ambassador|empfehl", "advocacy"),
    (r"retarget|remarketing|\brtg\b|conver|sales|purchase|\blead|\bshop|search|\bkauf",
     "conversion"),
    (r"traffic|consider|engage|click|visit|interest", "consideration"),
    (r"aware|reach|brand|video|prospect|\bvv\b|bekannt|reichweite", "awareness"),
]
# which column measures a stage's KPI, in order of preference; impressions (additive across
# days and campaigns) rather than reach (which is not) unless the mapping asks for reach
STAGE_KPIS: dict[str, list[str]] = {
    "awareness": ["impressions", "reach", "outcome"],
    "consideration": ["link_clicks", "clicks", "outcome"],
    "conversion": ["purchases", "leads", "conversions", "results", "outcome"],
    "loyalty": ["purchases", "conversions", "results", "outcome"],
    "advocacy": ["results", "conversions", "clicks", "outcome"],
}
KPI_WORDS = {"impressions": "impressions", "reach": "reach", "link_clicks": "link clicks",
             "clicks": "clicks", "purchases": "purchases", "leads": "leads",
             "conversions": "conversions", "results": "results", "outcome": "outcomes"}


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: str = Field(description="regular expression on the campaign name")
    stage: Literal["awareness", "consideration", "conversion", "loyalty", "advocacy"]


class Mapping(BaseModel):
    """The mapping file: anything the exports do not say by themselves."""

    model_config = ConfigDict(extra="forbid")
    platform: str | None = Field(default=None, description="platform of generic exports")
    columns: dict[str, str] = Field(
        default_factory=dict, description="generic format: date, campaign, spend, outcome, "
                                          "value, platform, objective -> your column names")
    campaigns: dict[str, Literal["awareness", "consideration", "conversion", "loyalty",
                                 "advocacy", "skip"]] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    objectives: dict[str, str] = Field(default_factory=dict)
    kpi: dict[str, str] = Field(default_factory=dict, description="stage -> column name")
    market: str | None = Field(default=None, description="regex whose first group is the "
                                                         "market in a campaign's name")


def load_mapping(path: str | Path | None) -> Mapping:
    if path is None:
        return Mapping()
    path = Path(path)
    if path.is_dir():
        raise ExportError([f"{path}: is a folder; --mapping takes a YAML file"])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ExportError([f"{path}: cannot read the mapping file: {why}"]) from None
    if not any(t.strip() and not t.lstrip().startswith("#") for t in text.splitlines()):
        return Mapping()  # empty, or only comments
    try:  # read as scenario files are: alias bombs refused, 1e6 a number, lines in errors
        data = parse_text(text, str(path)).data
    except ScenarioError as exc:
        raise ExportError([str(p) for p in exc.problems]) from None
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        raise ExportError([f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                           for e in exc.errors()]) from None
    for i, rule in enumerate(mapping.rules):
        try:
            re.compile(rule.match)
        except re.error as exc:
            raise ExportError([f"{path}: rules[{i}].match: not a regular expression: {exc}"]) \
                from None
    for stage, col in mapping.kpi.items():
        if stage not in STAGES or col not in KPI_WORDS:
            raise ExportError([f"{path}: kpi.{stage}: expected a stage ({', '.join(STAGES)}) "
                               f"and a column ({', '.join(KPI_WORDS)}), got {stage}: {col}"])
    return mapping


def stage_of(campaign: str, objective: str | None, mapping: Mapping) -> tuple[str | None, str]:
    """(stage, why) for a campaign; stage None when nothing tells."""
    if campaign in mapping.campaigns:
        return mapping.campaigns[campaign], "mapping file"
    for rule in mapping.rules:
        if re.search(rule.match, campaign):
            return rule.stage, f"rule '{rule.match}'"
    if isinstance(objective, str) and objective.strip():
        key = objective.strip().lower()
        if objective in mapping.objectives:
            return mapping.objectives[objective], "mapping objectives"
        if key in OBJECTIVE_STAGE:
            return OBJECTIVE_STAGE[key], f"objective {objective}"
    low = campaign.lower()
    for pattern, stage in NAME_RULES:
        if re.search(pattern, low):
            return stage, "campaign name"
    return None, ""


@dataclass
class LineSeries:
    """One line's history: spend and outcome per period, and what it was built from."""

    platform: str
    stage: str
    market: str | None
    kpi: str  # canonical column
    currency: str | None
    dates: np.ndarray  # period start dates
    spend: np.ndarray
    outcome: np.ndarray
    revenue: np.ndarray
    campaigns: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "-".join(t for t in (self.platform, self.stage, self.market) if t)


def build_lines(exports: list[Export], mapping: Mapping, *, by: str = "day",
                skip_bad: bool = False) -> tuple[list[LineSeries], list[str]]:
    """Aggregate campaigns into lines. Returns the lines and notes on what was skipped."""
    problems: list[str] = []
    notes: list[str] = []
    frames = []
    for ex in exports:
        f = ex.frame.copy()
        f["file"] = ex.file
        if "platform" not in f:
            f["platform"] = mapping.platform if ex.platform == "generic" else ex.platform
        if f["platform"].isna().any():
            problems.append(f"{ex.file}: which platform is this export from? add platform: "
                            "NAME to the mapping file, or a platform column")
            continue
        neg = f[f["spend"] < 0]
        for _, r in neg.head(5).iterrows():
            problems.append(f"{ex.file}:{r['row']}: negative spend {r['spend']:,.2f} for "
                            f"campaign '{r['campaign']}' on {r['date']}: refunds and credits "
                            "do not belong in a response curve; remove the row")
        stages, unknown = [], set()
        for camp, obj in zip(f["campaign"], f["objective"], strict=True):
            stage, _ = stage_of(camp, obj, mapping)
            if stage is None:
                unknown.add(camp)
            stages.append(stage)
        f["stage"] = stages
        for camp in sorted(unknown):
            msg = (f"{ex.file}: campaign '{camp}': cannot tell its funnel stage from its "
                   "objective or name; add it to the mapping file under campaigns: "
                   f"{{'{camp}': conversion}} (or skip)")
            (notes if skip_bad else problems).append(msg)
        f = f[f["stage"].notna() & (f["stage"] != "skip")]
        if mapping.market:
            f["market"] = [(m.group(1) if (m := re.search(mapping.market, c)) else None)
                           for c in f["campaign"]]
        else:
            f["market"] = None
        dup = f[f.duplicated(["platform", "campaign", "date"], keep=False)]
        if len(dup):
            r = dup.iloc[0]
            rows = ", ".join(str(x) for x in dup[(dup["campaign"] == r["campaign"]) & (
                dup["date"] == r["date"])]["row"])
            problems.append(f"{ex.file}: campaign '{r['campaign']}' has {r['date']} more than "
                            f"once (rows {rows}): export one row per campaign and day, or "
                            "remove the duplicate")
        frames.append(f)
    if problems:
        raise ExportError(problems)
    data = pd.concat(frames, ignore_index=True)
    # the same campaign and day in two files (an export downloaded twice)
    dup = data[data.duplicated(["platform", "campaign", "date"], keep=False)]
    if len(dup):
        r = dup.iloc[0]
        files = sorted(set(dup[(dup["campaign"] == r["campaign"])]["file"]))
        raise ExportError([f"campaign '{r['campaign']}' on {r['date']} is in more than one "
                           f"export ({', '.join(files)}): give each day once"])
    data["date"] = pd.to_datetime(data["date"])
    if by == "week":
        data["period"] = data["date"].dt.to_period("W-SUN").dt.start_time
    else:
        data["period"] = data["date"]
    lines: list[LineSeries] = []
    for (platform, stage, market), g in data.groupby(["platform", "stage", "market"],
                                                     dropna=False, sort=True):
        market = None if market is None or market != market else market
        kpi = _kpi_column(g, stage, mapping)
        name = "-".join(t for t in (platform, stage, market) if t)
        currencies = sorted({c for c in g["currency"] if c})
        if len(currencies) > 1:
            msg = (f"line {name}: spend in {' and '.join(currencies)} (files "
                   f"{', '.join(sorted(set(g['file'])))}): export every account in one currency")
            (notes if skip_bad else problems).append(msg)
            continue
        if kpi is None:
            msg = (f"line {name}: no column measures its KPI; expected one of "
                   f"{', '.join(STAGE_KPIS[stage][:-1])} in the export, or kpi: {{{stage}: "
                   "COLUMN}} in the mapping file")
            (notes if skip_bad else problems).append(msg)
            continue
        agg = g.groupby("period").agg(spend=("spend", "sum"), outcome=(kpi, "sum"),
                                      revenue=("revenue", "sum") if "revenue" in g else
                                      ("spend", lambda s: 0.0))
        if by == "week":  # a week the export cuts short would read as a low-spend week
            first, last = data["date"].min(), data["date"].max()
            whole = (agg.index >= first) & (agg.index + pd.Timedelta(days=6) <= last)
            agg = agg[whole]
        lines.append(LineSeries(platform, stage, market, kpi, currencies[0] if currencies
                                else None, agg.index.to_numpy(), agg["spend"].to_numpy(float),
                                agg["outcome"].to_numpy(float), agg["revenue"].to_numpy(float),
                                sorted(set(g["campaign"])), sorted(set(g["file"]))))
    if problems:
        raise ExportError(problems)
    currencies = sorted({ln.currency for ln in lines if ln.currency})
    if len(currencies) > 1:
        raise ExportError([f"the exports are in {' and '.join(currencies)}: a plan has one "
                           "currency; export every account in the same one"])
    return lines, notes


def _kpi_column(g: pd.DataFrame, stage: str, mapping: Mapping) -> str | None:
    if stage in mapping.kpi:
        col = mapping.kpi[stage]
        return col if col in g and g[col].sum() > 0 else None
    for col in STAGE_KPIS[stage]:
        if col in g and g[col].sum() > 0:
            return col
    return None
