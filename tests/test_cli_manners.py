"""CLI manners (#14 item 6): progress lines, overrides blamed on the command line, list items
by position, field and cross-field mistakes in one pass, min_if_active above the budget."""

from __future__ import annotations

import io
import textwrap
import time

import pytest
from click.testing import CliRunner

from allocator import progress as progress_module
from allocator.cli import main
from allocator.plan import plan_scenario
from allocator.progress import Progress
from allocator.scenario import load_scenario, load_scenario_text

from .conftest import ROOT

D2C = ROOT / "scenarios" / "d2c_ecommerce.yaml"

BASE = textwrap.dedent("""\
    name: test
    budget: 10000
    stages: [awareness, conversion]
    platforms: [meta, tiktok]
    lines:
      - name: meta-aw
        stage: awareness
        platform: meta
        min: 3000
        curve: {type: hill, vmax: 1000000, k: 5000}
        value_per_outcome: 0.005
      - name: meta-conv
        stage: conversion
        platform: meta
        min: 2000
        curve: {type: hill, vmax: 300, k: 4000, s: 1.5}
        revenue_per_outcome: 60
    constraints:
      - {select: {stage: conversion}, cpa_max: 500}
    """)


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


@pytest.fixture
def base_file(tmp_path):
    path = tmp_path / "base.yaml"
    path.write_text(BASE)
    return path


# --- progress ---------------------------------------------------------------------------------


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(progress_module, "AFTER", 0.0)
    monkeypatch.setattr(progress_module, "LOG_EVERY", 0.0)


def test_progress_in_a_log_is_plain_lines(fast):
    out = io.StringIO()
    p = Progress(out, tty=False, enabled=True)
    with p.step("frontier", total=3) as step:
        for done in range(1, 4):
            step.update(done)
            time.sleep(0.05)
    with p.step("solve"):
        pass
    lines = out.getvalue().splitlines()
    assert lines[0] == "allocator: frontier ..."
    assert lines[-3].startswith("allocator: frontier done in ")
    assert lines[-1].startswith("allocator: solve done in ")
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_progress_on_a_terminal_is_a_bar_redrawn_in_place(fast):
    out = io.StringIO()
    p = Progress(out, tty=True, enabled=True)
    with p.step("tornado", total=4) as step:
        step.update(2)
        time.sleep(0.3)
    text = out.getvalue()
    assert "\rtornado        [############------------] 2/4" in text
    assert text.endswith("s\x1b[K\n") and "tornado        done in " in text


def test_progress_short_steps_say_nothing():
    out = io.StringIO()
    with Progress(out, tty=False, enabled=True).step("solve"):
        pass
    assert out.getvalue() == ""


def test_progress_off_by_environment(monkeypatch, fast):
    monkeypatch.setenv("ALLOCATOR_PROGRESS", "off")
    out = io.StringIO()
    with Progress(out, tty=False).step("solve"):
        time.sleep(0.05)
    assert out.getvalue() == ""


def test_plan_out_logs_its_steps(tmp_path, monkeypatch, fast):
    monkeypatch.setenv("ALLOCATOR_PROGRESS", "on")
    result = run("plan", ROOT / "scenarios" / "minimal.toml", "--out", tmp_path / "p",
                 "--no-sensitivity", "--format", "csv")
    assert result.exit_code == 0, result.output
    done = [line.split(" done in")[0] for line in result.stderr.splitlines()
            if " done in " in line]
    assert done == ["allocator: solve", "allocator: tables", "allocator: charts",
                    "allocator: report", "allocator: report.pdf"] or \
        done == ["allocator: solve", "allocator: tables", "allocator: charts",
                 "allocator: report"]


# --- overrides blamed on the command line ---------------------------------------------------


def test_budget_below_the_line_minimums_is_blamed_on_budget(base_file):
    result = run("plan", base_file, "--budget", "4000")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: --budget 4000: lines: line minimums add up to 5,000, above the budget max of "
        "4,000; lower some min or raise the budget"]


def test_cross_field_mistake_named_by_the_override_that_causes_it(base_file):
    result = run("plan", base_file, "--set", "constraints.0.cpa_max=40",
                 "--set", "lines.meta-aw.min=9000")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: --set lines.meta-aw.min=9000: lines: line minimums add up to 11,000, above "
        "the budget max of 10,000; lower some min or raise the budget"]
    assert str(base_file) not in result.output


def test_a_mistake_of_the_file_stays_on_its_line(tmp_path):
    path = tmp_path / "over.yaml"
    path.write_text(BASE.replace("min: 2000", "min: 8000"))
    result = run("plan", path, "--budget", "10000")
    assert result.output.startswith(f"error: {path}:5: lines: line minimums add up to 11,000")


def test_unnamed_list_items_by_position(base_file):
    sc = load_scenario(base_file, ["constraints.0.cpa_max=40", "lines.1.max=5000"])
    assert sc.constraints[0].cpa_max == 40 and sc.lines[1].max == 5000
    result = run("plan", base_file, "--set", "constraints.3.cpa_max=40")
    assert result.output == ("error: --set: constraints.3.cpa_max: there is no "
                             "constraints[3]: constraints has 1 item(s), constraints[0] to "
                             "constraints[0]\n")


# --- validate: one pass ----------------------------------------------------------------------


def test_validate_reports_field_and_cross_field_mistakes_together(tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text(BASE.replace("stage: awareness\n", "stage: awarenes\n")
                    .replace("s: 1.5}", "s: 40}"))
    result = run("validate", path)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{path}:16: lines[1].curve.s: 40 is outside 0.1 to 10")
    assert lines[1].startswith(f"{path}:7: lines[0].stage: stage 'awarenes' is not declared "
                               "(did you mean 'awareness'?)")
    assert len(lines) == 2


def test_validate_leaves_out_findings_about_fields_in_error(tmp_path):
    path = tmp_path / "budget.yaml"
    path.write_text(BASE.replace("budget: 10000", "budget: lots"))
    lines = run("validate", path).output.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}:2: budget: ")  # no 'needs a budget'


# --- min_if_active above a small budget ---------------------------------------------------------


def test_min_if_active_above_the_budget_stays_at_zero():
    text = BASE.replace("    min: 3000\n", "").replace("min: 2000", "min_if_active: 50000") \
        .replace("cpa_max: 500", "cpa_max: 5000")
    sc = load_scenario_text(text, "small.yaml")
    plan = plan_scenario(sc)
    spend = dict(zip(plan.lines["line"], plan.lines["spend"], strict=True))
    assert spend["meta-conv"] == 0 and spend["meta-aw"] == pytest.approx(10_000)
