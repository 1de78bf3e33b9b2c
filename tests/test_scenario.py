"""Scenario files: examples load, round trips hold, every mistake is named with its place."""

import copy
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocator.errors import ScenarioError
from allocator.scenario import (
    Goal,
    load_scenario,
    load_scenario_text,
    scenario_from_data,
)
from allocator.source import read_source

from .conftest import SCENARIOS

BASE = textwrap.dedent("""\
    name: test
    budget: 10000
    stages: [awareness, conversion]
    platforms: [meta, tiktok]
    lines:
      - name: meta-aw
        stage: awareness
        platform: meta
        curve: {type: hill, vmax: 1000000, k: 5000}
        value_per_outcome: 0.005
      - name: meta-conv
        stage: conversion
        platform: meta
        curve: {type: hill, vmax: 300, k: 4000, s: 1.5}
        revenue_per_outcome: 60
        min_if_active: 1000
    """)


def data(**changes):
    d = yaml.safe_load(BASE)
    d.update(changes)
    return d


def problems_of(text: str, fmt: str = "yaml") -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, "s.yaml", fmt)
    return [str(p) for p in info.value.problems]


def test_examples_load(example_path):
    sc = load_scenario(example_path)
    assert sc.lines and sc.file == str(example_path)
    for line in sc.lines:
        assert sc.curve(line).value(10_000.0) > 0


def test_at_least_three_realistic_examples_with_baselines():
    names = {p.name for p in SCENARIOS}
    assert {"d2c_ecommerce.yaml", "b2b_saas_leads.yaml", "onesocial_paid_owned.yaml"} <= names
    owned = load_scenario(SCENARIOS[[p.name for p in SCENARIOS].index(
        "onesocial_paid_owned.yaml")])
    assert {line.kind for line in owned.lines} == {"paid", "owned"}


def test_round_trip_through_dump(example_path):
    sc = load_scenario(example_path)
    again = scenario_from_data(sc.model_dump(mode="json", exclude_none=True))
    assert again.model_dump() == sc.model_dump()


def test_yaml_and_toml_give_the_same_scenario():
    yaml_text = BASE
    toml_text = textwrap.dedent("""\
        name = "test"
        budget = 10000
        stages = ["awareness", "conversion"]
        platforms = ["meta", "tiktok"]
        [[lines]]
        name = "meta-aw"
        stage = "awareness"
        platform = "meta"
        curve = {type = "hill", vmax = 1000000, k = 5000}
        value_per_outcome = 0.005
        [[lines]]
        name = "meta-conv"
        stage = "conversion"
        platform = "meta"
        curve = {type = "hill", vmax = 300, k = 4000, s = 1.5}
        revenue_per_outcome = 60
        min_if_active = 1000
        """)
    assert load_scenario_text(yaml_text).model_dump() == load_scenario_text(
        toml_text, fmt="toml").model_dump()


def test_defaults_and_resolution():
    sc = scenario_from_data(data())
    assert sc.budget.exact and sc.budget.max == 10_000
    assert sc.stages["awareness"].per == 1000 and sc.stages["awareness"].unit_cost_label == "CPM"
    assert sc.objective.goal == Goal.VALUE
    assert sc.value_per_outcome(sc.lines[1]) == 60  # value falls back to revenue
    assert sc.revenue_per_outcome(sc.lines[0]) == 0


def test_budget_forms():
    assert scenario_from_data(data(budget={"max": 5000})).budget.min is None
    b = scenario_from_data(data(budget={"min": 4000, "max": 5000})).budget
    assert (b.min, b.max, b.exact) == (4000, 5000, False)


def test_shares_accept_fractions_and_percent_strings():
    c = {"select": {"stage": "awareness"}, "share": {"min": "70%", "max": 0.8}}
    sc = scenario_from_data(data(constraints=[c]))
    assert sc.constraints[0].share.min == pytest.approx(0.7)
    assert sc.constraints[0].share.max == 0.8


def test_guideline_preset_resolves_and_overrides():
    sc = scenario_from_data(data(guidelines={"preset": "paid-social-funnel"}))
    # consideration is not declared, so its band is skipped
    assert sc.guideline_bands() == {"awareness": (0.7, 0.8), "conversion": (0.1, 0.2)}
    sc = scenario_from_data(data(guidelines={"bands": {"awareness": {"min": "60%"}},
                                             "enforce": "soft", "penalty_per_point": 100}))
    assert sc.guideline_bands()["awareness"] == (0.6, 0.8)
    assert sc.guidelines.enforce == "soft"


def test_auto_line_names():
    d = data()
    for line in d["lines"]:
        del line["name"]
    d["lines"][0]["market"] = "DE"
    sc = scenario_from_data(d)
    assert [line.name for line in sc.lines] == ["awareness-meta-DE", "conversion-meta"]


def test_selectors():
    sc = scenario_from_data(data())
    from allocator.scenario import Selector
    assert sc.select(Selector(platform="meta")) == [0, 1]
    assert sc.select(Selector(stage=["conversion"], platform="meta")) == [1]
    assert sc.select(Selector()) == [0, 1]


# --- every mistake kind, with file, line and a fix ------------------------------------------

ERRORS = [
    # (what to change in BASE, expected fragment, expected line)
    ("budget: 10000", "budget: -10000", "budget: a budget must be 0 or more, got -10000", 2),
    ("budget: 10000", "budget: lots",
     "budget: a budget is a number (e.g. budget: 250000) or a range {min, max}", 2),
    ("    value_per_outcome: 0.005", "    value_per_outcome: -1",
     "lines[0].value_per_outcome: Input should be greater than or equal to 0, got -1", 10),
    ("    min_if_active: 1000", "    min: -5",
     "lines[1].min: Input should be greater than or equal to 0, got -5", 16),
    ("    min_if_active: 1000", "    min: 900\n    max: 100",
     "lines[1]: min (900) is above max (100)", 11),
    ("    curve: {type: hill, vmax: 1000000, k: 5000}",
     "    curve: {type: hill, vmax: 0, k: 5000}", "no positive response", 9),
    ("    curve: {type: hill, vmax: 1000000, k: 5000}",
     "    curve: {type: points, spend: [0, 10], outcome: [0, 0]}", "no positive response", 9),
    ("    curve: {type: hill, vmax: 1000000, k: 5000}",
     "    curve: {type: hil, vmax: 1, k: 5}", "unknown curve type 'hil' (did you mean 'hill'?)",
     9),
    ("    stage: awareness", "    stage: awarenes",
     "stage 'awarenes' is not declared (did you mean 'awareness'?)", 7),
    ("    platform: meta\n    curve: {type: hill, vmax: 300",
     "    platform: tiktk\n    curve: {type: hill, vmax: 300",
     "platform 'tiktk' is not declared (did you mean 'tiktok'?)", 13),
    ("name: meta-conv", "name: meta-aw", "line name 'meta-aw' is used 2 times", 6),
    ("    min_if_active: 1000", "    mni_if_active: 1000",
     "unknown key 'mni_if_active' (did you mean 'min_if_active'?)", 16),
    ("name: test\n", "name: test\ncurency: EUR\n",
     "unknown key 'curency' (did you mean 'currency'?)", 2),
]


@pytest.mark.parametrize("old,new,fragment,line", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_each_mistake_is_reported_with_line_and_fix(old, new, fragment, line):
    assert old in BASE
    found = problems_of(BASE.replace(old, new, 1))
    hits = [p for p in found if fragment in p]
    assert hits, found
    assert hits[0].startswith(f"s.yaml:{line}:"), hits


@pytest.mark.parametrize("extra,fragment", [
    ({"constraints": [{"select": {"stage": "awareness"}, "share": {"min": 70}}]},
     "a share must be between 0 and 100 %, got 70 (did you mean '70%'?)"),
    ({"constraints": [{"select": {"stage": "awareness"}, "share": {"max": "-5%"}}]},
     "a share must be between 0 and 100 %"),
    ({"constraints": [{"select": {"stage": "awareness"}, "share": {"min": 0.9}},
                      {"select": {"stage": "conversion"}, "share": {"min": 0.2}}]},
     "stage share minimums add up to 110%"),
    ({"constraints": [{"select": {"stage": "awareness"}, "share": {"max": 0.5}},
                      {"select": {"stage": "conversion"}, "share": {"max": 0.2}}]},
     "stage share maximums add up to 70%"),
    ({"constraints": [{"select": {"platform": "linkedin"}, "spend": {"max": 5}}]},
     "'linkedin' is not a declared platform"),
    ({"constraints": [{"select": {"market": "FR"}, "spend": {"max": 5}}]},
     "selector {market=FR} matches no line"),
    ({"constraints": [{"select": {"stage": "awareness"}}]}, "a constraint needs at least one"),
    ({"budget": 500, "lines": None}, "expected a list, got None"),
    ({"guidelines": {"preset": "paid-social"}}, "unknown preset 'paid-social' (did you mean"),
    ({"guidelines": {"enforce": "soft"}}, "soft guidelines need penalty_per_point"),
    ({"guidelines": {"bands": {"awarness": {"min": 0.5}}}}, "stage 'awarness' is not declared"),
    ({"objective": "min_spend"}, "goal min_spend needs a KPI floor"),
    ({"objective": "conversion"}, "Input should be 'conversions'"),
    ({"mode": "target_efficiency"}, "mode target_efficiency needs a target"),
    ({"budget": {"min": 9000, "max": 100}}, "min (9,000) is above max (100)"),
    ({"currency": "euro"}, "currency is a three-letter ISO code"),
])
def test_data_mistakes(extra, fragment):
    with pytest.raises(ScenarioError) as info:
        scenario_from_data(data(**extra), "s.yaml")
    assert any(fragment in str(p) for p in info.value.problems), info.value.problems


def test_all_mistakes_of_a_file_at_once():
    bad = BASE.replace("budget: 10000", "budget: -1").replace(
        "value_per_outcome: 0.005", "value_per_outcome: x").replace("min_if_active", "min_if")
    assert len(problems_of(bad)) == 3


@pytest.mark.parametrize("text,fragment", [
    ("", "the file is empty"),
    ("# only a comment\n", "holds only comments"),
    ("name: x\n  budget: [1\n", "YAML syntax error"),
    ("- 1\n- 2\n", "a scenario is a mapping"),
    ("name: a\nname: b\n", "duplicate key 'name' (first given on line 1)"),
])
def test_file_level_mistakes(text, fragment):
    assert any(fragment in p for p in problems_of(text)), problems_of(text)


def test_toml_syntax_error_names_the_line():
    found = problems_of('name = "x"\nbudget = = 3\n', fmt="toml")
    assert "TOML syntax error" in found[0] and "line 2" in found[0]


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(ScenarioError, match="no such file"):
        read_source(tmp_path / "nope.yaml")
    (tmp_path / "plan.txt").write_text("name: x")
    with pytest.raises(ScenarioError, match="unknown file type '.txt'"):
        read_source(tmp_path / "plan.txt")


# --- properties -----------------------------------------------------------------------------

curve_st = st.one_of(
    st.builds(lambda v, k, s: {"type": "hill", "vmax": v, "k": k, "s": s},
              st.floats(1, 1e7), st.floats(1, 1e6), st.floats(0.3, 4)),
    st.builds(lambda v, k: {"type": "exponential", "vmax": v, "k": k},
              st.floats(1, 1e7), st.floats(1, 1e6)),
    st.builds(lambda c, s, r: {"type": "unit_cost_rise", "unit_cost": c, "at_spend": s,
                               "rise_per_doubling": f"{r}%"},
              st.floats(0.01, 500), st.floats(1, 1e6), st.integers(0, 99)),
    st.builds(lambda c, n: {"type": "unit_cost_saturation", "unit_cost": c, "saturation": n},
              st.floats(0.01, 500), st.floats(1, 1e7)),
)


@st.composite
def valid_scenarios(draw):
    stages = ["awareness", "consideration", "conversion", "loyalty", "advocacy"]
    platforms = draw(st.lists(st.sampled_from(["meta", "tiktok", "linkedin", "x", "reddit"]),
                              min_size=1, max_size=5, unique=True))
    n = draw(st.integers(1, 12))
    lines = []
    for i in range(n):
        lo = draw(st.floats(0, 1000))
        hi = draw(st.one_of(st.none(), st.floats(lo, 1e6)))
        line = {"name": f"line{i}", "stage": draw(st.sampled_from(stages)),
                "platform": draw(st.sampled_from(platforms)), "curve": draw(curve_st),
                "min": lo, "value_per_outcome": draw(st.floats(0, 100))}
        if hi is not None:
            line["max"] = hi
        lines.append(line)
    budget = draw(st.floats(sum(line["min"] for line in lines), 1e8))
    return {"name": "random", "budget": {"max": budget}, "platforms": platforms,
            "lines": lines}


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(valid_scenarios())
def test_random_valid_scenarios_load(d):
    sc = scenario_from_data(d)
    assert len(sc.lines) == len(d["lines"])


JUNK = [None, -1, -0.5, 0, "", "abc", "70%", [], {}, [1, 2], {"x": 1}, True, 1e308, "nan"]


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, path + (i,))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(SCENARIOS), st.data())
def test_random_corruptions_fail_with_our_error_only(path, draw):
    original = read_source(path).data
    d = copy.deepcopy(original)
    for _ in range(draw.draw(st.integers(1, 3))):
        paths = [p for p in _paths(d) if p]
        target = draw.draw(st.sampled_from(paths))
        parent = d
        for part in target[:-1]:
            parent = parent[part]
        if draw.draw(st.booleans()) and isinstance(parent, dict):
            del parent[target[-1]]
        else:
            parent[target[-1]] = copy.deepcopy(draw.draw(st.sampled_from(JUNK)))
    try:
        scenario_from_data(d, str(path))
    except ScenarioError as exc:
        assert exc.problems and all(p.message for p in exc.problems)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(SCENARIOS), st.data())
def test_random_text_damage_fails_with_our_error_only(path, draw):
    text = path.read_text()
    pos = draw.draw(st.integers(0, len(text) - 1))
    cut = draw.draw(st.integers(1, 20))
    insert = draw.draw(st.sampled_from(["", ":", "-", "  ", "\t", "{", "]", "'", "#", "x: y\n"]))
    damaged = text[:pos] + insert + text[pos + cut:]
    try:
        load_scenario_text(damaged, path.name, "toml" if path.suffix == ".toml" else "yaml")
    except ScenarioError:
        pass
