"""What finance signs off (#14): one accounting everywhere, marginals that reconcile with the
constraints' prices, guidelines and constraints in planner units, a workbook finance can
use, a report that fits the screen and the printed page. The example scenarios are the
regression suite."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from openpyxl import load_workbook

from allocator.analysis.compare import compare_variants
from allocator.outputs.console import format_comparison, format_table
from allocator.outputs.folders import write_plan_folder
from allocator.outputs.html import render_html
from allocator.plan import plan_scenario
from allocator.scenario import load_scenario
from allocator.variants import load_variants

from .browser import CHROMIUM, DRIVER, needs_chromium
from .conftest import ROOT, SCENARIOS

D2C = ROOT / "scenarios" / "d2c_ecommerce.yaml"
MINIMAL = ROOT / "scenarios" / "minimal.toml"
ONESOCIAL = ROOT / "scenarios" / "onesocial_paid_owned.yaml"


@pytest.fixture(scope="module")
def plans() -> dict:
    return {p.name: plan_scenario(load_scenario(p)) for p in SCENARIOS}


@pytest.mark.parametrize("name", [p.name for p in SCENARIOS])
def test_accounting_adds_up(plans, name):
    plan = plans[name]
    acc, s = plan.accounting, plan.solution
    if plan.problem.goal in ("value", "profit") and getattr(plan, "timeline", None) is None:
        assert acc.value == pytest.approx(float(plan.lines["value"].sum()))  # the lines add up
    assert acc.spend == pytest.approx(plan.total_spend)
    assert acc.objective == pytest.approx(s.objective, rel=1e-9, abs=1e-6)
    assert acc.earned - acc.penalties == pytest.approx(
        -s.objective if plan.problem.minimize_spend else s.objective, rel=1e-9, abs=1e-6) \
        or plan.problem.minimize_spend
    assert acc.penalties == pytest.approx(sum(b.penalty for b in acc.bands), abs=1e-6)
    summary = json.loads(json.dumps(plan.to_dict()["summary"], default=str))
    for key in ("value", "spend", "guideline_penalties", "objective_net", "earned"):
        assert key in summary


@pytest.mark.parametrize("name", [p.name for p in SCENARIOS])
def test_marginals_reconcile_with_the_budget_price(plans, name):
    """KKT at the certified optimum: a funded line inside its bounds earns the prices of the
    rows it sits in (the budget's for most); a line at its floor earns no more, at its
    ceiling no less; the budget's fitted price is the solver's measured shadow price."""
    plan = plans[name]
    rec = plan.reconciliation
    tol = max(plan.solution.gap, 1e-3) * max(rec["marginal_net"].abs().max(), 1e-9)
    inside = rec[rec["position"] == "inside"]
    assert (inside["residual"].abs() <= tol).all(), inside
    assert (rec.loc[rec["position"] == "floor", "residual"] <= tol).all(), rec
    assert (rec.loc[rec["position"] == "ceiling", "residual"] >= -tol).all(), rec
    cons = plan.constraints.set_index("constraint")
    if "budget" in cons.index and cons.loc["budget", "binding"]:
        measured = plan.solution.shadow_prices["budget"]
        assert cons.loc["budget", "price"] == pytest.approx(
            measured, rel=max(plan.solution.gap, 1e-3), abs=1e-9)
    # every binding constraint carries a price, and a sentence in planner units
    binding = cons[cons["binding"] & (cons["kind"] != "active")]
    assert binding["price"].map(math.isfinite).all(), binding
    for _, row in binding.iterrows():
        assert "e+" not in row["plan_at"] and "e-" not in row["plan_at"]


def test_unfunded_lines_show_what_their_first_block_is_worth(plans):
    lines = plans["d2c_ecommerce.yaml"].lines.set_index("line")
    assert lines.loc["tiktok-conversion", "spend"] == 0
    assert lines.loc["tiktok-conversion", "marginal_return"] > 0.3  # not 0.00


def test_d2c_says_value_penalties_and_where_it_breaks_its_guideline(plans):
    plan = plans["d2c_ecommerce.yaml"]
    text = format_table(plan)
    assert "value (EUR) 255,375" in text and "guideline penalties EUR 14,46" in text
    assert "awareness 49.0%, band 70%-80% (soft): below by 21.0 points, penalty EUR 8,383" \
        in text
    cons = plan.constraints.set_index("constraint")
    row = cons.loc["guideline share[stage=awareness].min"]
    assert (row["plan_at"], row["limit_at"]) == ("49.0%", "70.0%")  # not internal slack
    html = render_html(plan, {})
    assert "below by 21.0 points" in html and "guideline penalties" in html.lower()


def test_no_guideline_no_guideline_section(plans):
    plan = plans["minimal.toml"]
    html = render_html(plan, {})
    assert "Guidelines:" not in html and "nan" not in html.replace("nanoseconds", "")
    assert plan.accounting.bands == [] and "guidelines:" not in format_table(plan)


def test_no_per_cent_of_a_loss(plans):
    plan = plans["onesocial_paid_owned.yaml"]
    base = plan.baseline_accounting
    assert base.earned < 0
    text = format_table(plan)
    today = next(line for line in text.splitlines() if line.startswith("today:"))
    assert "%" not in today and "spends EUR" in today


def test_compare_names_its_figure_and_fits_a_terminal():
    cmp = compare_variants(load_variants([D2C], ["guideline hard"]))
    text = format_comparison(cmp)
    assert "compared: value (EUR) (gross of guideline penalties)" in text
    assert "value (EUR)                                255,375        217,954 (-37,421" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_workbook_finance_can_use(plans, tmp_path):
    out = write_plan_folder(plans["d2c_ecommerce.yaml"], tmp_path / "d2c", source=D2C,
                            report=False)
    book = load_workbook(out / "plan.xlsx")
    assert book.sheetnames[0] == "README"
    sheet = book["plan"]
    assert sheet.freeze_panes == "B2"
    heads = {c.value: c.column for c in sheet[1]}
    assert sheet.cell(2, heads["spend"]).number_format == '"EUR "#,##0'
    assert sheet.cell(2, heads["share_of_total"]).number_format == "0.0%"
    for ws in book.worksheets:
        for row in ws.iter_rows(min_row=2):
            for c in row:
                assert not (isinstance(c.value, float) and 0 < abs(c.value) < 1e-9), (ws, c)
                assert c.value != "nan"


def test_cli_constants_mirror_the_modules_they_stand_for():
    from allocator import cli
    from allocator.analysis.suite import KINDS
    from allocator.solve import DEFAULT_TOL, SOLVERS

    assert cli.KINDS == KINDS and set(cli.SOLVERS) == set(SOLVERS)
    assert cli.DEFAULT_TOL == DEFAULT_TOL


def _overflow(page, width: int, print_media: bool) -> list[str]:
    """Elements wider than the page (tables cut off), as Chromium lays the page out."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                f"--window-size={width},1200"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        if print_media:
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        driver.get(page.resolve().as_uri())
        return driver.execute_script("""
            const limit = document.body.getBoundingClientRect().right + 1;
            const out = [];
            for (const t of document.querySelectorAll('table, img, h1, h2, h3, p')) {
              const r = t.getBoundingClientRect();
              const box = t.closest('.scroll');
              if (r.right > limit || (box && box.scrollWidth > box.clientWidth + 1))
                out.push(t.tagName + ' ' + (t.innerText || '').slice(0, 40));
            }
            return out;""")
    finally:
        driver.quit()


@needs_chromium
@pytest.mark.parametrize("name", ["d2c_ecommerce.yaml", "onesocial_paid_owned.yaml"])
def test_report_fits_1280_px_and_the_printed_page(plans, tmp_path, name):
    out = write_plan_folder(plans[name], tmp_path / "r", source=ROOT / "scenarios" / name,
                            pdf=True)
    page = out / "report.html"
    assert _overflow(page, 1280, print_media=False) == []
    assert _overflow(page, 760, print_media=True) == []  # A4 less margins at 96 dpi
    pdf = out / "report.pdf"
    assert pdf.exists() and pdf.read_bytes()[:4] == b"%PDF"


def test_today_table_in_report(plans):
    html = render_html(plans["d2c_ecommerce.yaml"], {})
    assert "Today against the plan" in html and "spend today (EUR)" in html
    assert not np.isnan(plans["d2c_ecommerce.yaml"].baseline_accounting.value)
