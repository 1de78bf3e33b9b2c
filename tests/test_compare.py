"""Variants, `allocator compare`, the comparison folder and the live what-if session."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from allocator.analysis.compare import compare_variants
from allocator.cli import main
from allocator.curves import Hill
from allocator.errors import AllocatorError, ScenarioError
from allocator.outputs.console import format_comparison
from allocator.outputs.folders import write_comparison_folder
from allocator.plan import plan_scenario
from allocator.scenario import VariantSpec, load_scenario, load_scenario_text
from allocator.session import WhatIf
from allocator.variants import load_variants, variant_scenario

from .browser import needs_chromium, render
from .checks import objective_of, scenario_violations
from .conftest import ROOT

D2C = ROOT / "scenarios" / "d2c_ecommerce.yaml"
TOL = 1e-3

SMALL = """
name: small
budget: 100000
stages:
  awareness: {kpi: impressions, per: 1000, value_per_outcome: 0.005}
  conversion: {kpi: purchases, revenue_per_outcome: 80}
platforms: [meta, tiktok, google]
lines:
  - {name: meta-aw, stage: awareness, platform: meta,
     curve: {type: hill, vmax: 2000000, k: 40000, s: 0.8}, baseline: 30000}
  - {name: tiktok-aw, stage: awareness, platform: tiktok,
     curve: {type: hill, vmax: 1500000, k: 30000, s: 0.9}, baseline: 20000}
  - {name: meta-conv, stage: conversion, platform: meta, min_if_active: 5000,
     curve: {type: hill, vmax: 900, k: 25000, s: 1.5}, baseline: 25000}
  - {name: google-conv, stage: conversion, platform: google,
     curve: {type: hill, vmax: 700, k: 20000, s: 1.2}, baseline: 25000}
"""


def _small(extra: str = "") -> str:
    return SMALL + extra


def _plan_objective(sc) -> tuple[float, np.ndarray]:
    plan = plan_scenario(sc, tol=TOL)
    x = plan.lines["spend"].to_numpy()
    assert scenario_violations(sc, x) == []
    return plan.solution.objective, x


# --- variants ----------------------------------------------------------------------------


@pytest.mark.parametrize("name, overrides", [
    ("budget +10%", ["budget=275000"]),
    ("guideline hard", ["guidelines.enforce=hard", "guidelines.penalty_per_point=null",
                        "guidelines.bands={awareness: {min: 0.7, max: 0.7}}"]),
    ("no tiktok", ["lines.tiktok-awareness.max=0", "lines.tiktok-consideration.max=0",
                   "lines.tiktok-conversion.max=0", "lines.tiktok-conversion.min_if_active=null"]),
])
def test_variant_equals_a_separate_plan_of_the_overridden_scenario(name, overrides):
    base = load_scenario(D2C)
    spec = next(v for v in base.variants if v.name == name)
    by_variant = variant_scenario(base, spec)
    by_hand = load_scenario(D2C, overrides)
    v_obj, v_x = _plan_objective(by_variant)
    h_obj, h_x = _plan_objective(by_hand)
    # both certified within TOL of their optimum, and the two problems are the same
    assert v_obj == pytest.approx(h_obj, rel=2 * TOL)
    assert objective_of(by_hand, v_x) == pytest.approx(objective_of(by_variant, v_x), rel=1e-9)


def test_unit_cost_and_audience_scale_the_curve_as_stated():
    sc = load_scenario_text(_small())
    line = sc.lines[0]
    f = sc.curve(line)
    assert isinstance(f, Hill)
    cost = variant_scenario(sc, VariantSpec.model_validate(
        {"name": "v", "unit_cost": {"meta-aw": "+25%"}}))
    g = cost.curve(cost.lines[0])
    for x in (1e3, 2e4, 9e4):  # 25 % dearer: the same outcome costs 1.25 times the spend
        assert g.value(1.25 * x) == pytest.approx(f.value(x), rel=1e-12)
    size = variant_scenario(sc, VariantSpec.model_validate(
        {"name": "v", "saturation": {"meta-aw": 2.0}}))
    h = size.curve(size.lines[0])
    assert h.value(1e12) == pytest.approx(2 * f.value(1e12), rel=1e-6)  # twice the audience
    assert h.derivative(1.0) == pytest.approx(f.derivative(0.5), rel=1e-9)


def test_every_verb_on_a_small_scenario_matches_a_brute_force():
    """Verbs apply as documented: the variant's optimum equals a grid search on the
    hand-edited problem (DP oracle over spend steps)."""
    from .oracle import dp_optimum

    text = _small("""
variants:
  - name: all verbs
    budget_scale: 0.8
    drop: [tiktok]
    fix: {google-conv: 20000}
    unit_cost: {meta: 1.1}
""")
    base = load_scenario_text(text)
    sc = variant_scenario(base, base.variants[0])
    assert sc.budget.max == pytest.approx(80000)
    assert sc.lines[1].max == 0 and sc.lines[3].min == sc.lines[3].max == 20000
    obj, x = _plan_objective(sc)
    best, _ = dp_optimum([sc.curve(line) for line in sc.lines],
                         [sc.value_per_outcome(line) for line in sc.lines], 80000,
                         [line.min for line in sc.lines], [line.upper for line in sc.lines],
                         [line.min_if_active or 0 for line in sc.lines], grid=400)
    assert obj >= best - 1e-6 * abs(best)  # never below the oracle
    assert obj <= best * (1 + 0.01)  # and the oracle's grid gets close to it


def test_bad_variants_get_clear_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(_small("""
variants:
  - name: typo
    unit_cost: {meta: abc}
"""))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(bad)
    assert "bad.yaml:20: variants[0].unit_cost.meta: 'abc' is not a factor; write 1.15 or " \
        "'+15%'" in str(exc.value)
    bad.write_text(_small("""
variants:
  - name: typo
    drop: [tiktk]
  - name: typo
    bands: {awarenes: {min: 70%}}
"""))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(bad)
    text = str(exc.value)
    assert "bad.yaml:20: variants[0].drop[0]: 'tiktk' is not a line, platform or stage of " \
        "this scenario (did you mean 'tiktok'?)" in text
    assert "variants[1].bands.awarenes: 'awarenes' is not a stage" in text
    assert "variant name 'typo' is used twice" in text


def test_bad_set_path_and_impossible_variant(tmp_path):
    f = tmp_path / "v.yaml"
    f.write_text(_small("""
variants:
  - name: wrong path
    set: [lines.meta-aw.maxx=5]
"""))
    with pytest.raises(ScenarioError) as exc:
        load_variants([f])
    assert "unknown field 'maxx' (did you mean 'max'?)" in str(exc.value)
    f.write_text(_small("""
variants:
  - name: too much
    fix: {meta-aw: 150000}
"""))
    with pytest.raises(ScenarioError) as exc:
        load_variants([f])
    assert "(variant 'too much')" in str(exc.value)
    assert "above the whole budget of 100,000" in str(exc.value)
    with pytest.raises(ScenarioError, match="no variant named 'to much' \\(did you mean "
                                            "'too much'\\?\\)"):
        load_variants([f], ["to much"])


# --- comparison --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def comparison():
    return compare_variants(load_variants([D2C]), tol=TOL)


def test_comparison_has_base_first_and_every_variant_certified(comparison):
    assert comparison.labels == ["base", "budget +10%", "guideline hard", "no tiktok",
                                 "CPMs +15%"]
    for plan in comparison.plans:
        assert plan.solution.gap <= TOL
        assert scenario_violations(plan.scenario, plan.lines["spend"].to_numpy()) == []
    t = comparison.table.set_index("metric")
    assert t.loc["spend", "budget +10%"] == pytest.approx(275000)
    assert t.loc["tiktok spend", "no tiktok"] == pytest.approx(0, abs=1e-6)


def test_comparison_differences_add_up(comparison):
    d = comparison.differences()
    for label in comparison.labels[1:]:
        total = d.loc[d["metric"] == "spend", f"{label} change"].item()
        stages = d.loc[(d["section"] == "stage") & d["metric"].str.endswith(" spend"),
                       f"{label} change"].sum()
        platforms = d.loc[(d["section"] == "platform") & d["metric"].str.endswith(" spend"),
                          f"{label} change"].sum()
        assert stages == pytest.approx(total, abs=1e-6)
        assert platforms == pytest.approx(total, abs=1e-6)
    t = comparison.table
    for label in comparison.labels:
        shares = t.loc[(t["section"] == "stage") & t["metric"].str.endswith(" share"), label]
        assert shares.sum() == pytest.approx(1.0)
        # unit costs recomputed from spend and outcome
        cpm = t.loc[t["metric"] == "awareness CPM", label].item()
        spend = t.loc[t["metric"] == "awareness spend", label].item()
        imps = t.loc[t["metric"] == "awareness impressions", label].item()
        assert cpm == pytest.approx(spend * 1000 / imps)


def test_comparison_matches_each_plan(comparison):
    for plan, label in zip(comparison.plans, comparison.labels, strict=True):
        obj = comparison.objective()[1][comparison.labels.index(label)]
        # compared on the value a planner means, gross of the guideline penalties
        assert obj == pytest.approx(plan.accounting.earned)
        assert plan.accounting.earned - plan.accounting.penalties == pytest.approx(
            plan.solution.objective)
    text = format_comparison(comparison)
    assert text.splitlines()[0].startswith("compared: value (EUR) (gross")
    assert text.splitlines()[3].split()[0] == "base"
    assert max(len(line) for line in text.splitlines()) <= 100  # fits a terminal
    assert "(+25,000, +10.0%)" in text  # budget +10 %, in currency and per cent


def test_comparison_folder(comparison, tmp_path):
    out = write_comparison_folder(comparison, tmp_path / "cmp", sources=[D2C])
    names = {p.name for p in out.iterdir()}
    assert names == {"comparison.csv", "comparison.json", "comparison.xlsx", "charts",
                     "report.html"}
    assert {p.stem for p in (out / "charts").glob("*.png")} == {
        "allocation_by_variant", "waterfall_stage", "waterfall_platform", "kpi_changes"}
    data = json.loads((out / "comparison.json").read_text())
    assert [v["label"] for v in data["variants"]] == comparison.labels
    with pytest.raises(AllocatorError, match="already exists"):
        write_comparison_folder(comparison, out, sources=[D2C])


@needs_chromium
def test_comparison_report_renders_in_headless_chromium(comparison, tmp_path):
    out = write_comparison_folder(comparison, tmp_path / "cmp", sources=[D2C])
    seen = render(out / "report.html", tmp_path)
    assert seen["errors"] == []
    assert seen["images"] == 4 and seen["broken"] == 0
    img = seen["screenshot"]
    assert img.shape[0] > 500 and img[..., :3].std() > 0.05


def test_compare_cli(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["compare", str(D2C), "--variant", "no tiktok", "--format", "csv"])
    assert r.exit_code == 0, r.output
    head = r.output.splitlines()[0].split(",")
    assert head[:5] == ["section", "metric", "unit", "base", "no tiktok"]
    r = runner.invoke(main, ["compare", str(D2C), "--variant", "no tiktk"])
    assert r.exit_code == 1 and "did you mean 'no tiktok'" in r.output
    assert "Traceback" not in r.output
    second = tmp_path / "other.yaml"
    second.write_text(D2C.read_text().replace("budget: 250000", "budget: 200000"))
    r = runner.invoke(main, ["compare", str(D2C), str(second), "--variant", "budget +10%",
                             "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    heads = [line.split() for line in r.output.splitlines() if line.split()[:1] == ["base"]]
    assert [w for head in heads for w in head[1:]] == ["budget", "+10%", "other",
                                                       "other:budget", "+10%"]
    assert (tmp_path / "out" / "report.html").exists()


# --- live what-if ------------------------------------------------------------------------


def test_what_if_equals_the_variant_plan_and_keeps_the_previous_plan_on_error():
    s = WhatIf(D2C, tol=TOL)
    base_obj = s.plan.solution.objective
    plan = s.change(budget_scale=1.1)
    assert plan.total_spend == pytest.approx(275000)
    plan = s.change(drop=["tiktok"])  # on top of the budget change
    sc = load_scenario(D2C)
    spec = VariantSpec.model_validate({"name": "x", "budget_scale": 1.1, "drop": ["tiktok"]})
    obj, _ = _plan_objective(variant_scenario(sc, spec))
    assert plan.solution.objective == pytest.approx(obj, rel=2 * TOL)
    assert s.state.budget_scale == 1.1 and s.state.drop == ["tiktok"]
    before = s.plan
    with pytest.raises(ScenarioError, match="did you mean 'meta-awareness'"):
        s.change(fix={"meta-awarenes": 1000})
    with pytest.raises(AllocatorError):
        s.change(fix={"meta-awareness": 300000})  # more than the whole budget
    assert s.plan is before and s.state.fix == {}
    assert s.error is not None
    s.change(drop=None, budget_scale=None)
    assert s.plan.solution.objective == pytest.approx(base_obj, rel=2 * TOL)
    assert s.reset().solution.objective == pytest.approx(base_obj, rel=2 * TOL)


def test_what_if_set_replaces_every_change():
    s = WhatIf(D2C, tol=TOL)
    s.change(budget_scale=1.1, drop=["tiktok"])
    plan = s.set(unit_cost={"meta": 1.15})
    assert s.state.budget_scale is None and s.state.drop == [] and s.state.unit_cost == {
        "meta": 1.15}
    assert plan.total_spend == pytest.approx(250000)
    assert plan.lines.loc[plan.lines["platform"] == "tiktok", "spend"].sum() > 0


def test_a_second_file_named_base_gets_its_own_column(tmp_path):
    """`compare a.toml base.toml`: the second file's label cannot collide with the base."""
    for name in ("a.toml", "base.toml"):
        (tmp_path / name).write_text((ROOT / "scenarios" / "minimal.toml").read_text())
    labels = [v.label for v in load_variants([tmp_path / "a.toml", tmp_path / "base.toml"])]
    assert labels == ["base", "base.2"]
