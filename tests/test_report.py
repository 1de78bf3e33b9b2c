"""The finance report and the plan folder: complete, self-contained, renders in Chromium."""

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from allocator.analysis.suite import SweepOptions, run_analyses
from allocator.cli import main
from allocator.outputs.folders import write_plan_folder
from allocator.outputs.html import render_html
from allocator.plan import plan_scenario
from allocator.scenario import load_scenario

from .browser import needs_chromium, render
from .conftest import ROOT

D2C = ROOT / "scenarios" / "d2c_ecommerce.yaml"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    sc = load_scenario(D2C)
    plan = plan_scenario(sc)
    analyses = run_analyses(sc, plan, options=SweepOptions(points=5, draws=300))
    out = tmp_path_factory.mktemp("plans") / "d2c"
    write_plan_folder(plan, out, analyses=analyses, source=D2C)
    return out


def test_folder_has_every_output(folder):
    names = {p.name for p in folder.iterdir()}
    assert names == {"plan.csv", "plan.json", "plan.xlsx", "scenario.resolved.yaml",
                     "charts", "report.html"}
    charts = {p.name for p in (folder / "charts").iterdir()}
    for name in ("allocation", "funnel", "response_curves", "frontier", "guideline",
                 "tornado", "uncertainty"):
        assert f"{name}.png" in charts and f"{name}.svg" in charts
    book = load_workbook(folder / "plan.xlsx", read_only=True)
    assert {"summary", "plan", "stages", "platforms", "constraints", "frontier", "guideline",
            "tornado", "uncertainty", "inputs"} <= set(book.sheetnames)


def test_report_is_self_contained_and_states_the_certificate(folder):
    text = (folder / "report.html").read_text()
    assert "http://" not in text and "https://" not in text  # nothing fetched from a network
    assert text.count("data:image/png;base64,") == 7
    plan = json.loads((folder / "plan.json").read_text())
    assert f"{plan['summary']['gap']:.3%}" in text
    for words in ("Binding constraints", "Assumptions", "Sensitivity", "against today",
                  "What the prospecting guideline costs"):
        assert words in text
    for line in plan["lines"]:
        assert line["line"] in text


def test_report_numbers_add_up(folder):
    plan = json.loads((folder / "plan.json").read_text())
    spend = sum(r["spend"] for r in plan["lines"])
    assert spend == pytest.approx(plan["summary"]["total_spend"])
    assert sum(s["spend"] for s in plan["stages"]) == pytest.approx(spend)
    assert sum(s["share_of_total"] for s in plan["stages"]) == pytest.approx(1.0)


@needs_chromium
def test_report_renders_in_headless_chromium(folder, tmp_path):
    seen = render(folder / "report.html", tmp_path)
    assert seen["errors"] == []
    assert seen["images"] == 7 and seen["broken"] == 0
    img = seen["screenshot"]
    assert img.shape[0] > 500 and img[..., :3].std() > 0.05  # not a blank page


def test_render_html_without_analyses_or_baseline():
    sc = load_scenario(ROOT / "scenarios" / "minimal.toml")
    text = render_html(plan_scenario(sc), {})
    assert "Sensitivity" not in text and "against today" not in text
    assert text.count("data:image/png;base64,") == 3
    for chunk in text.split("data:image/png;base64,")[1:]:
        raw = base64.b64decode(chunk.split('"', 1)[0])
        assert raw.startswith(b"\x89PNG")


def test_sweep_cli(tmp_path):
    run = CliRunner().invoke
    result = run(main, ["sweep", str(D2C), "--kind", "frontier", "--points", "4",
                        "--format", "csv", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("budget,feasible,spend,objective")
    assert {"frontier.csv", "frontier.png", "frontier.svg"} <= {p.name for p in
                                                                tmp_path.iterdir()}
    result = run(main, ["sweep", str(D2C), "--kind", "uncertainty", "--draws", "100"])
    assert result.exit_code == 0 and "p10" in result.output
    result = run(main, ["sweep", str(D2C), "--kind", "frontier", "--range", "2,1"])
    assert result.exit_code == 1 and "--range" in result.output
    result = run(main, ["sweep", str(D2C), "--kind", "guideline", "--stage", "advocacy"])
    assert result.exit_code == 1 and "no line is on stage 'advocacy'" in result.output
    assert "Example" in run(main, ["sweep", "--help"]).output


def test_plan_out_writes_the_report_unless_told_not_to(tmp_path):
    out = tmp_path / "p"
    result = CliRunner().invoke(main, ["plan", str(ROOT / "scenarios" / "minimal.toml"),
                                       "--out", str(out), "--no-sensitivity"])
    assert result.exit_code == 0, result.output
    assert (out / "report.html").exists() and (out / "charts" / "allocation.png").exists()
    assert not (out / "charts" / "frontier.png").exists()


def test_report_source_is_the_input_file(folder):
    text = (folder / "report.html").read_text()
    assert str(Path(D2C)) in text and "SHA-256" in text
