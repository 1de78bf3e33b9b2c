"""The CLI end to end: exit codes, one line per problem, no tracebacks, help everywhere."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from allocator.cli import main

from .conftest import SCENARIOS


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_validate_examples_ok():
    result = run("validate", *map(str, SCENARIOS))
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok (") == len(SCENARIOS)


def test_validate_bad_file_one_line_per_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbudget: -3\nplatforms: [meta]\nlines: []\nfoo: 1\n")
    result = run("validate", str(bad), str(SCENARIOS[0]))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert f"{bad}:2: budget: a budget must be 0 or more, got -3" in lines
    assert any("unknown key 'foo'" in line for line in lines)
    assert any("lines: List should have at least 1 item" in line for line in lines)
    assert lines[-1].endswith("ok (9 lines, 3 stages, 4 platforms)")
    assert "Traceback" not in result.output


def test_validate_missing_file():
    result = run("validate", "nope.yaml")
    assert result.exit_code == 1 and "nope.yaml: no such file" in result.output


def test_schema_is_json_schema():
    result = run("schema")
    schema = json.loads(result.output)
    assert "lines" in schema["properties"] and "$defs" in schema


def test_init_writes_valid_scenarios_and_refuses_to_overwrite(tmp_path):
    for template in ("starter", "d2c_ecommerce", "b2b_saas_leads", "onesocial_paid_owned"):
        target = tmp_path / f"{template}.yaml"
        assert run("init", "--template", template, str(target)).exit_code == 0
        assert run("validate", str(target)).exit_code == 0
    target = tmp_path / "starter.yaml"
    before = target.read_text()
    result = run("init", str(target))
    assert result.exit_code == 1 and "already exists" in result.output
    assert target.read_text() == before


@pytest.mark.parametrize("command", ["validate", "schema", "init"])
def test_every_command_has_help_with_an_example(command):
    result = run(command, "--help")
    assert result.exit_code == 0 and "Example" in result.output


def test_version_and_module_entry_point():
    assert "allocator, version" in run("--version").output
    out = subprocess.run([sys.executable, "-m", "allocator", "validate", str(SCENARIOS[0])],
                         capture_output=True, text=True)
    assert out.returncode == 0 and ": ok (" in out.stdout


# --- allocator plan ---------------------------------------------------------------------------


def test_plan_table_for_every_example():
    for path in SCENARIOS:
        result = run("plan", str(path))
        assert result.exit_code == 0, result.output
        assert "certified: at most" in result.output and "Traceback" not in result.output


def test_plan_json_and_csv(tmp_path):
    path = str(SCENARIOS[0])
    data = json.loads(run("plan", path, "--format", "json").output)
    assert data["summary"]["gap"] <= 1e-3 and len(data["lines"]) > 0
    assert sum(r["spend"] for r in data["lines"]) == pytest.approx(data["summary"]["total_spend"])
    csv = run("plan", path, "--format", "csv").output.splitlines()
    assert csv[0].startswith("line,stage,platform,") and len(csv) == len(data["lines"]) + 1


def test_plan_folder_is_complete_and_not_overwritten(tmp_path):
    src = SCENARIOS[1]
    before = src.read_bytes()
    out = tmp_path / "plan"
    result = run("plan", str(src), "--out", str(out))
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {"plan.csv", "plan.json", "plan.xlsx", "scenario.resolved.yaml"} <= names
    data = json.loads((out / "plan.json").read_text())
    assert len(data["tool"]["input_sha256"]) == 64 and data["tool"]["version"]
    assert src.read_bytes() == before  # the input is never touched
    # the resolved scenario plans again to the same objective
    again = json.loads(run("plan", str(out / "scenario.resolved.yaml"), "--format", "json").output)
    assert again["summary"]["objective_value"] == pytest.approx(
        data["summary"]["objective_value"], rel=1e-3)
    stamp = (out / "plan.json").stat().st_mtime_ns
    result = run("plan", str(src), "--out", str(out))
    assert result.exit_code == 1 and "already exists" in result.output
    assert (out / "plan.json").stat().st_mtime_ns == stamp
    assert run("plan", str(src), "--out", str(out), "--force").exit_code == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left over


def test_plan_overrides_and_their_errors():
    path = str(SCENARIOS[[p.name for p in SCENARIOS].index("d2c_ecommerce.yaml")])
    base = json.loads(run("plan", path, "--format", "json").output)["summary"]
    more = json.loads(run("plan", path, "--budget", "300000", "--format", "json").output)
    assert more["summary"]["total_spend"] == pytest.approx(300_000, rel=1e-6)
    assert more["summary"]["objective_value"] > base["objective_value"]
    capped = json.loads(run("plan", path, "--set", "lines.meta-awareness.max=1000",
                            "--format", "json").output)
    meta = next(r for r in capped["lines"] if r["line"] == "meta-awareness")
    assert meta["spend"] <= 1000 + 1e-6
    result = run("plan", path, "--set", "lines.meta-awarenes.max=1")
    assert result.exit_code == 1
    assert "no item named 'meta-awarenes' under lines (did you mean 'meta-awareness'?)" in \
        result.output
    result = run("plan", path, "--set", "budget=-5")
    assert result.exit_code == 1 and "a budget must be 0 or more" in result.output


def test_plan_infeasible_exits_1_with_the_conflict(tmp_path):
    bad = tmp_path / "tight.yaml"
    bad.write_text(
        "name: tight\nbudget: 100000\nstages: [awareness, conversion]\n"
        "platforms: [meta]\nlines:\n"
        "  - {name: aw, stage: awareness, platform: meta, max: 50000,\n"
        "     curve: {type: exponential, vmax: 1000000, k: 50000}, value_per_outcome: 0.01}\n"
        "  - {name: cv, stage: conversion, platform: meta,\n"
        "     curve: {type: exponential, vmax: 900, k: 50000}, value_per_outcome: 50}\n"
        "constraints:\n  - {select: {stage: awareness}, share: {min: 70%}}\n")
    result = run("plan", str(bad), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "stage=awareness >= 70% of total spend" in result.output
    assert "line aw spend <= 50,000" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_plan_help_has_examples():
    assert "Example" in run("plan", "--help").output
