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
