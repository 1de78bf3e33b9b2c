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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ScenarioError
from ..source import parse_text
from .readers import Export, ExportError

__all__ = ["Mapping", "Calibration", "load_mapping", "load_lifts", "LineSeries", "build_lines",
           "STAGE_KPIS", "name_words"]

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
# words in campaign names, matched as whole words (or phrases of whole words) on the name
# split at anything that is not a letter or digit: "leadership" is not "lead", "DE_Leads"
# is "leads". The first stage whose words occur wins, in this order.
NAME_RULES: list[tuple[str, tuple[str, ...]]] = [
    ("loyalty", ("loyalty", "loyal", "retention", "existing customers", "existing customer",
                 "crm", "repeat", "repeat purchase", "win back", "winback", "bestandskunden",
                 "bestandskunde", "kundenbindung")),
    ("advocacy", ("advocacy", "advocates", "advocate", "referral", "referrals", "refer a friend",
                  "ugc", "ambassador", "ambassadors", "empfehlung", "empfehlungen")),
    ("conversion", ("retargeting", "retarget", "remarketing", "rtg", "conversion",
                    "conversions", "conv", "sales", "sale", "purchase", "purchases", "lead",
                    "leads", "leadgen", "lead gen", "lead generation", "shop", "shopping",
                    "search", "sem", "pmax", "performance max", "sign up", "signup", "signups",
                    "trial", "demo", "kauf", "kaufen", "käufe", "verkauf", "abverkauf")),
    ("consideration", ("traffic", "consideration", "engagement", "engage", "click", "clicks",
                       "visit", "visits", "website visits", "interest", "landing page",
                       "besuche", "interaktion")),
    ("awareness", ("awareness", "aware", "reach", "brand", "branding", "video", "prospecting",
                   "prospect", "vv", "thought leadership", "upper funnel", "tofu",
                   "bekanntheit", "markenbekanntheit", "reichweite")),
]


def name_words(name: str) -> str:
    """' word word ... ': the name's words, lower case, for whole-word matching."""
    return " " + " ".join(re.findall(r"[^\W_]+", name.lower())) + " "


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


class Calibration(BaseModel):
    """A lift test (conversion lift, geo test): at `spend` per `per` the line drove
    `incremental` outcomes per `per`, `level` interval `low` to `high`."""

    model_config = ConfigDict(extra="forbid")
    line: str = Field(description="the fitted line, e.g. meta-conversion")
    spend: float = Field(gt=0, description="the line's spend per `per` during the test")
    per: Literal["day", "week", "month"] = "week"
    incremental: float = Field(gt=0, description="incremental outcomes per `per`")
    low: float = Field(gt=0)
    high: float = Field(gt=0)
    level: float = Field(default=0.95, gt=0.5, lt=1.0, description="the interval's level")
    label: str = ""

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low <= self.incremental <= self.high:
            raise ValueError(f"expected low <= incremental <= high, got {self.low:g} <= "
                             f"{self.incremental:g} <= {self.high:g}")
        return self


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
    calibration: list[Calibration] = Field(default_factory=list,
                                           description="lift tests that set a line's level")


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


def load_lifts(path: str | Path) -> list[Calibration]:
    """Lift tests from --lift FILE: YAML (a `calibration:` list, or a list) or CSV with
    columns line, spend, per, incremental, low, high (level, label optional)."""
    path = Path(path)
    if path.is_dir() or not path.is_file():
        raise ExportError([f"{path}: " + ("is a folder; --lift takes a YAML or CSV file"
                                          if path.is_dir() else "no such file")])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ExportError([f"{path}: cannot read the lift tests: {why}"]) from None
    if path.suffix.lower() == ".csv":
        import csv
        import io

        rows = list(csv.DictReader(io.StringIO(text)))
        data = [{k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in r.items()
                 if k and v not in (None, "")} for r in rows]
        where = [f"{path}:{i + 2}" for i in range(len(data))]
    else:
        try:
            data = parse_text(text, str(path)).data
        except ScenarioError as exc:
            raise ExportError([str(p) for p in exc.problems]) from None
        if isinstance(data, dict):
            data = data.get("calibration", data.get("lifts"))
        where = [f"{path}: calibration[{i}]" for i in range(len(data or []))]
    if not isinstance(data, list) or not data:
        raise ExportError([f"{path}: expected a list of lift tests (calibration: - {{line: "
                           "meta-conversion, spend: 20000, per: week, incremental: 310, low: "
                           "240, high: 380}})"])
    out, problems = [], []
    for w, entry in zip(where, data, strict=True):
        try:
            out.append(Calibration.model_validate(entry))
        except ValidationError as exc:
            problems += [f"{w}: {'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}"
                         for e in exc.errors()]
    if problems:
        raise ExportError(problems)
    return out


def stage_of(campaign: str, objective: str | None, mapping: Mapping) -> tuple[str | None, str]:
    """(stage, why) for a campaign; stage None when nothing tells."""
    if campaign in mapping.campaigns:
        return mapping.campaigns[campaign], "the mapping file's campaigns"
    for rule in mapping.rules:
        if re.search(rule.match, campaign):
            return rule.stage, f"the mapping rule '{rule.match}'"
    if isinstance(objective, str) and objective.strip():
        key = objective.strip().lower()
        if objective in mapping.objectives:
            return mapping.objectives[objective], "mapping objectives"
        if key in OBJECTIVE_STAGE:
            return OBJECTIVE_STAGE[key], f"objective '{objective}'"
    words = name_words(campaign)
    for stage, phrases in NAME_RULES:
        for phrase in phrases:
            if f" {phrase} " in words:
                return stage, f"the word '{phrase}' in its name"
    return None, ""


@dataclass
class LineSeries:
    """One line's history: spend and outcome per period (every period from the first to the
    last, 0 where nothing ran), and what it was built from."""

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
    # per campaign: name, file, spend, share (of the line's spend), outcome, why (its stage)
    members: list[dict] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # campaigns that look mis-mapped
    within: np.ndarray | None = None  # week/month fits: daily spend per period (NaN-padded)

    @property
    def name(self) -> str:
        return "-".join(t for t in (self.platform, self.stage, self.market) if t)


ZERO_SHARE = 0.02  # a campaign with this share of a line's spend and no outcome is flagged
PERIODS = {"day": "D", "week": "W-SUN", "month": "M"}


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
        stages, whys, unknown = [], [], set()
        memo: dict = {}
        for camp, obj in zip(f["campaign"], f["objective"], strict=True):
            key = (camp, obj)
            if key not in memo:
                memo[key] = stage_of(camp, obj, mapping)
            stage, why = memo[key]
            if stage is None:
                unknown.add(camp)
            stages.append(stage)
            whys.append(why)
        f["stage"] = stages
        f["why"] = whys
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
    # one currency for the plan: name each file with its own
    by_file = {fl: sorted({c for c in g["currency"] if isinstance(c, str) and c})
               for fl, g in data.groupby("file", sort=True)}
    currencies = sorted({c for cs in by_file.values() for c in cs})
    if len(currencies) > 1:
        said = "; ".join(f"{fl} in {' and '.join(cs)}" for fl, cs in by_file.items() if cs)
        raise ExportError([f"the exports are in {' and '.join(currencies)} ({said}): a plan "
                           "has one currency; export every account in the same one"])
    data["date"] = pd.to_datetime(data["date"])
    freq = PERIODS[by]
    data["period"] = data["date"].dt.to_period(freq).dt.start_time
    first, last = data["date"].min(), data["date"].max()
    lines: list[LineSeries] = []
    for (platform, stage, market), g in data.groupby(["platform", "stage", "market"],
                                                     dropna=False, sort=True):
        market = None if market is None or market != market else market
        kpi = _kpi_column(g, stage, mapping)
        name = "-".join(t for t in (platform, stage, market) if t)
        currency = next((c for c in g["currency"] if isinstance(c, str) and c), None)
        if kpi is None:
            msg = (f"line {name} ({', '.join(sorted(set(g['file'])))}): no column measures its "
                   f"KPI; expected one of {', '.join(STAGE_KPIS[stage][:-1])} in the export, "
                   f"or kpi: {{{stage}: COLUMN}} in the mapping file")
            (notes if skip_bad else problems).append(msg)
            continue
        if "revenue" not in g:
            g = g.assign(revenue=0.0)
        agg = g.groupby("period").agg(spend=("spend", "sum"), outcome=(kpi, "sum"),
                                      revenue=("revenue", "sum"))
        # every period from the line's first to its last (carryover runs through pauses)
        full = pd.date_range(agg.index.min(), agg.index.max(),
                             freq={"D": "D", "W-SUN": "W-MON", "M": "MS"}[freq])
        agg = agg.reindex(full, fill_value=0.0)
        if by != "day":  # a period the export cuts short would read as a low-spend period
            ends = agg.index + (pd.Timedelta(days=6) if by == "week" else pd.offsets.MonthEnd(0))
            whole = (agg.index >= first) & (ends <= last)
            agg = agg[whole]
        within = None
        if by != "day":  # the daily spend behind each period: what a total hides
            daily = g.groupby("date")["spend"].sum()
            daily = daily.reindex(pd.date_range(daily.index.min(), daily.index.max()),
                                  fill_value=0.0)
            per_day = daily.groupby(daily.index.to_period(freq).start_time)
            width = 7 if by == "week" else 31
            within = np.full((len(agg), width), np.nan)
            for i, start in enumerate(agg.index):
                if start in per_day.groups:
                    v = per_day.get_group(start).to_numpy(float)
                    within[i, :len(v)] = v
        members = []
        total = float(g["spend"].sum())
        word = KPI_WORDS[kpi]
        flags = []
        for (camp, fl), c in g.groupby(["campaign", "file"], sort=True):
            spend, out = float(c["spend"].sum()), float(c[kpi].sum())
            share = spend / total if total > 0 else 0.0
            members.append({"campaign": camp, "file": fl, "spend": spend, "share": share,
                            "outcome": out, "why": c["why"].iloc[0]})
            if out <= 0 and spend > 0 and share >= ZERO_SHARE:
                flags.append(f"campaign '{camp}' ({fl.rsplit('/', 1)[-1]}, stage by "
                             f"{c['why'].iloc[0]}) spends {share:.0%} of the line's money and "
                             f"brought 0 {word}: is it mapped to the right stage?")
        members.sort(key=lambda m: -m["spend"])
        lines.append(LineSeries(platform, stage, market, kpi, currency,
                                agg.index.to_numpy(), agg["spend"].to_numpy(float),
                                agg["outcome"].to_numpy(float), agg["revenue"].to_numpy(float),
                                sorted(set(g["campaign"])), sorted(set(g["file"])), members,
                                flags, within))
    if problems:
        raise ExportError(problems)
    return lines, notes


def _kpi_column(g: pd.DataFrame, stage: str, mapping: Mapping) -> str | None:
    if stage in mapping.kpi:
        col = mapping.kpi[stage]
        return col if col in g and g[col].sum() > 0 else None
    for col in STAGE_KPIS[stage]:
        if col in g and g[col].sum() > 0:
            return col
    return None
