"""Bad input, all of it: every cause ends in a short error naming the file (or the option),
the field and what would be right, or in the correct behaviour. One test per cause."""

from __future__ import annotations

import json
import shutil
import textwrap
import time
import warnings
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from allocator.analysis.suite import SweepOptions, run_analyses
from allocator.cli import main
from allocator.errors import ScenarioError
from allocator.fit.mapping import load_mapping
from allocator.fit.readers import ExportError, read_export
from allocator.outputs import charts
from allocator.plan import plan_scenario
from allocator.scenario import load_scenario, load_scenario_text
from allocator.source import parse_text

from .conftest import ROOT

DATA = ROOT / "scenarios" / "data"
GOOGLE = DATA / "google_ads_campaigns.csv"

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
    """)


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    # an error of ours ends in SystemExit; anything else would be a traceback
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def problems(text: str, fmt: str = "yaml") -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, "s.yaml", fmt)
    return [str(p) for p in info.value.problems]


def export_error(path: Path) -> str:
    with pytest.raises(ExportError) as info:
        read_export(path)
    assert len(info.value.problems) == 1, info.value.problems
    return info.value.problems[0]


def google_with(tmp_path: Path, name: str, row: int, old: str, new: str) -> Path:
    """The sample Google Ads export with one cell changed (row: index into its lines)."""
    lines = GOOGLE.read_text(encoding="utf-8").splitlines()
    assert old in lines[row], lines[row]
    lines[row] = lines[row].replace(old, new, 1)
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- exports: files that are not CSV text -----------------------------------------------------


def test_binary_file_as_csv(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(bytes(range(256)) * 40)
    assert export_error(path) == (f"{path}: holds binary data, not a CSV or XLSX export; "
                                  "download the report again as CSV or XLSX")


@pytest.mark.parametrize("name", ["report.xls", "report.csv"])
def test_old_xls_workbook_named_xls_or_csv(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 4000)
    assert "is an old Excel workbook (.xls), which is not read; open it in Excel and save " \
        "it as .xlsx or CSV (UTF-8)" in export_error(path)


def test_xlsx_renamed_csv_is_read_as_the_workbook(tmp_path):
    path = tmp_path / "tiktok.csv"
    shutil.copy(DATA / "tiktok_ads.xlsx", path)
    assert read_export(path).frame.equals(read_export(DATA / "tiktok_ads.xlsx").frame)


def test_csv_named_xlsx_is_read_as_text(tmp_path):
    path = tmp_path / "google.xlsx"
    shutil.copy(GOOGLE, path)
    assert read_export(path).frame.equals(read_export(GOOGLE).frame)


def test_web_page_saved_as_export(tmp_path):
    path = tmp_path / "report.xls"
    path.write_text("<html><body><table><tr><td>Day</td><td>Cost</td></tr></table>")
    assert "is a web page or XML (HTML), not a CSV or XLSX export" in export_error(path)


def test_unclosed_quote_names_the_line(tmp_path):
    path = google_with(tmp_path, "quote.csv", 200, ",", ',"')
    assert export_error(path) == (
        f"{path}:201: cannot read this row as CSV (',' expected after '\"'); check for a "
        "quote (\") that is not closed from this line on")


def test_unclosed_quote_at_the_end(tmp_path):
    path = tmp_path / "end.csv"
    path.write_text(GOOGLE.read_text(encoding="utf-8") + ',"a note that never ends\n')
    assert "cannot read this row as CSV (unexpected end of data)" in export_error(path)


def test_folder_given_as_export(tmp_path):
    assert export_error(tmp_path) == (f"{tmp_path}: is a folder; give the export files in "
                                      f"it, e.g. {tmp_path / '*.csv'}")


# --- exports: numbers and dates no account has ----------------------------------------------


@pytest.mark.parametrize("cell", ["1e300", "inf", "nan", "-inf"])
def test_non_finite_or_absurd_spend_cell(tmp_path, cell):
    path = google_with(tmp_path, "spend.csv", 5, ",696.59,", f",{cell},")
    assert export_error(path) == (f"{path}:6: column 'Cost': '{cell}' is not an amount from "
                                  "-1e+12 to 1e+12")


def test_export_dated_in_the_future(tmp_path):
    path = google_with(tmp_path, "future.csv", 5, "2026-05-03", "2099-05-03")
    message = export_error(path)
    assert message.startswith(f"{path}:6: column 'Day': 2099-05-03 is in the future (today is ")
    assert "an export reports days that have passed" in message


def test_mapping_file_alias_bomb_and_folder(tmp_path):
    bomb = tmp_path / "mapping.yaml"
    bomb.write_text(_BOMB)
    with pytest.raises(ExportError, match="YAML aliases"):
        load_mapping(bomb)
    with pytest.raises(ExportError, match="is a folder; --mapping takes a YAML file"):
        load_mapping(tmp_path)


# --- fit options, checked before any work -----------------------------------------------------


@pytest.mark.parametrize("name", ["fitted.txt", "fitted.toml"])
def test_fit_out_must_be_yaml(tmp_path, name):
    out = tmp_path / name
    result = run("fit", GOOGLE, "--out", out)
    assert result.exit_code == 1
    assert result.output.strip() == (f"error: --out {out}: fit writes a YAML scenario; give a "
                                     "name ending in .yaml or .yml, e.g. fitted.yaml")
    assert not out.exists()


def test_fit_charts_given_an_existing_file(tmp_path):
    out, chart_file = tmp_path / "fitted.yaml", tmp_path / "charts.png"
    chart_file.write_bytes(b"not a folder")
    result = run("fit", GOOGLE, "--out", out, "--charts", chart_file, "--force")
    assert result.exit_code == 1 and result.output.startswith(f"error: --charts {chart_file}")
    assert not out.exists() and chart_file.read_bytes() == b"not a folder"


def test_fit_numeric_options_by_their_own_name(tmp_path):
    result = run("fit", GOOGLE, "--out", tmp_path / "f.yaml", "--max-multiple", "nan")
    assert result.exit_code == 1
    assert result.output.strip() == "error: --max-multiple: must be from 1 to 1000, got nan"


# --- scenario numbers -------------------------------------------------------------------------

AMOUNT = "is outside 0 to 1e+12, the range of amounts of money or outcomes; check the units " \
    "and the number of zeros"
SCALE = "is outside 1e-06 to 1e+12, the range of positive amounts and curve scales (spend, " \
    "outcomes, unit costs); check the units and the number of zeros"


@pytest.mark.parametrize("old,new,expected", [
    ("budget: 10000", "budget: 1.0e+300", f"s.yaml:2: budget: 1e+300 {AMOUNT}"),
    ("budget: 10000", "budget: .inf", f"s.yaml:2: budget: inf {AMOUNT}"),
    ("vmax: 1000000", "vmax: 1.0e+300", f"s.yaml:9: lines[0].curve.vmax: 1e+300 {SCALE}"),
    ("k: 5000}", "k: 1e-300}", f"s.yaml:9: lines[0].curve.k: 1e-300 {SCALE}"),
    ("s: 1.5}", "s: 40}", "s.yaml:14: lines[1].curve.s: 40 is outside 0.1 to 10, the range of "
                          "a Hill slope (S-curves have 1 to 4)"),
    ("    value_per_outcome: 0.005", "    value_per_outcome: 0.005\n    max: .inf",
     "s.yaml:11: lines[0].max: Input should be a finite number, got inf"),
    ("    value_per_outcome: 0.005", "    value_per_outcome: 0.005\n    max: 5e14",
     f"s.yaml:11: lines[0].max: 5e+14 {AMOUNT}"),
    ("curve: {type: hill, vmax: 1000000, k: 5000}", "curve: {type: power, a: 10, b: 1e-9}",
     "s.yaml:9: lines[0].curve.b: 1e-09 is outside 0.001 to 1, the range of a power curve's "
     "exponent"),
])
def test_extreme_and_non_finite_numbers(old, new, expected):
    assert problems(BASE.replace(old, new, 1)) == [expected]


def test_budget_zero_plans_and_charts():
    sc = load_scenario_text(BASE.replace("budget: 10000", "budget: 0"), "zero.yaml")
    result = plan_scenario(sc)
    assert result.lines["spend"].abs().max() == 0
    analyses = run_analyses(sc, result, options=SweepOptions(points=5, draws=50),
                            scheduler="in-process")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figs = charts.all_charts(result, analyses)
    assert {"allocation", "uncertainty"} <= set(figs)
    assert not [w for w in caught if "lims" in str(w.message)], caught
    for fig in figs.values():
        charts.plt.close(fig)


# --- YAML: aliases, numbers as YAML 1.2 reads them, numbers written as text -------------------

_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=True))  # 9 ** 9 lols from 1 kB


def test_alias_bomb_refused_fast():
    start = time.perf_counter()
    found = problems("name: bomb\n" + _BOMB)
    assert time.perf_counter() - start < 2
    assert found == ["s.yaml: YAML aliases (*name) expand 30 written values to 490,329,066; "
                     "refused beyond 100,000 or 4x the values written: write the repeated "
                     "parts out"]


def test_alias_that_holds_itself():
    assert problems("name: loop\nlines: &x [*x]\n") == [
        "s.yaml:2: a YAML alias refers to the value that holds it (a loop); write the value "
        "out instead"]


def test_anchors_and_merge_keys_still_work():
    text = BASE.replace("    curve: {type: hill, vmax: 300, k: 4000, s: 1.5}",
                        "    curve: {<<: *aw, vmax: 300, s: 1.5}").replace(
        "curve: {type: hill, vmax: 1000000, k: 5000}",
        "curve: &aw {type: hill, vmax: 1000000, k: 4000}")
    sc = load_scenario_text(text)
    assert sc.lines[1].curve.model_dump(include={"vmax", "k", "s"}) == \
        {"vmax": 300, "k": 4000, "s": 1.5}


@pytest.mark.parametrize("written, value", [("1e6", 1e6), ("1.5e6", 1.5e6), ("2E+5", 2e5),
                                            ("1_000_000", 1e6)])
def test_exponent_numbers_are_numbers(written, value):
    sc = load_scenario_text(BASE.replace("budget: 10000", f"budget: {written}"))
    assert sc.budget.min == sc.budget.max == value


@pytest.mark.parametrize("written, expected", [
    ("lots", "a budget is a number (e.g. budget: 250000) or a range {min, max} (e.g. budget: "
             "{max: 250000}), got 'lots'"),
    ("yes", "a budget is a number (e.g. budget: 250000) or a range {min, max} (e.g. budget: "
            "{max: 250000}), got True"),
    ("'20000'", "a budget is a plain number, without quotes or separators (here budget: "
                "20000), or a range {min, max}; got '20000'"),
    ("250,000", "a budget is a plain number, without quotes or separators (here budget: "
                "250000), or a range {min, max}; got '250,000'"),
])
def test_budget_written_as_text(written, expected):
    assert problems(BASE.replace("budget: 10000", f"budget: {written}")) == [
        f"s.yaml:2: budget: {expected}"]


def test_nesting_too_deep():
    deep = "name: x\nlines: " + "[" * 3000 + "]" * 3000 + "\n"
    assert len(problems(deep)) == 1
    toml = 'name = "x"\nlines = ' + "[" * 5000 + "]" * 5000 + "\n"
    assert problems(toml, "toml") == ["s.yaml: values are nested too deeply to be a scenario; "
                                      "check the brackets and indentation"]


def test_the_fast_loader_gives_the_same_data_and_lines_as_pyyaml():
    text = (ROOT / "scenarios" / "d2c_ecommerce.yaml").read_text(encoding="utf-8")
    source = parse_text(text, "d2c.yaml")
    assert source.data == yaml.safe_load(text)
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    lines = {}

    def walk(n, path):
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                lines[path + (k.value,)] = k.start_mark.line + 1
                walk(v, path + (k.value,))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                lines[path + (i,)] = v.start_mark.line + 1
                walk(v, path + (i,))

    walk(node, ())
    assert {p: source.lines[p] for p in lines} == lines


# --- encodings, names -------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_byte_order_mark_is_accepted(tmp_path, suffix):
    src = ROOT / "scenarios" / ("minimal.toml" if suffix == ".toml" else "d2c_ecommerce.yaml")
    path = tmp_path / f"bom{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + src.read_bytes())
    assert load_scenario(path).model_dump() == load_scenario(src).model_dump()


@pytest.mark.parametrize("old,new,where", [
    ("name: test", 'name: ""', "s.yaml:1: name"),
    ("name: test", "name: '   '", "s.yaml:1: name"),
    ("  - name: meta-aw", "  - name: ''", "s.yaml:6: lines[0].name"),
])
def test_empty_names(old, new, where):
    found = problems(BASE.replace(old, new, 1))
    assert len(found) == 1 and found[0].startswith(f"{where}: a name cannot be empty (")
    assert "write one, e.g. 'Q1 2027 plan'" in found[0]


# --- --set and the other options, each blamed by its own name ---------------------------------


@pytest.fixture
def base_file(tmp_path) -> Path:
    path = tmp_path / "base.yaml"
    path.write_text("# a comment on line 1\n" + BASE)
    return path


@pytest.mark.parametrize("item", ["=5", "budget", "=", ""])
def test_set_without_path_or_value(base_file, item):
    result = run("plan", base_file, "--set", item)
    assert result.exit_code == 1
    assert result.output == ("error: --set: expected PATH=VALUE, e.g. budget=120000 or "
                             f"lines.meta-awareness.max=50000; got {item!r}\n")


def test_set_a_field_the_curve_does_not_have():
    path = ROOT / "scenarios" / "d2c_ecommerce.yaml"
    result = run("plan", path, "--set", "lines.meta-awareness.curve.vmax=5")
    assert result.exit_code == 1
    assert result.output == (
        "error: --set: lines.meta-awareness.curve.vmax: unknown field 'vmax': a unit_cost_rise "
        "curve takes type, unit_cost, at_spend, rise_per_doubling, per, spread, cost_scale, "
        "size_scale, low, high\n")


def test_unknown_key_in_a_curve_lists_the_fields(tmp_path):
    path = tmp_path / "vmax.yaml"
    path.write_text(BASE.replace("vmax: 1000000, k: 5000}", "vmax: 1000000, k: 5000, a: 3}"))
    result = run("validate", path)
    assert result.output == (f"{path}:9: lines[0].curve.a: unknown key 'a': a hill curve takes "
                             "type, vmax, k, s, spread, cost_scale, size_scale, low, high\n")


@pytest.mark.parametrize("item, expected", [
    ("pools[0].rate=0.1", "error: --set: pools[0].rate: there is no pools[0]: pools is not in "
                          "the file; set the whole list, e.g. pools=[{...}]"),
    ("lines[7].max=1", "error: --set: lines[7].max: there is no lines[7]: lines has 2 item(s), "
                       "lines[0] to lines[1]"),
    ("lines.meta-awx.max=1", "error: --set: lines.meta-awx.max: no item named 'meta-awx' under "
                             "lines (did you mean 'meta-aw'?)"),
    ("nothing.here=1", "error: --set: nothing.here: unknown field 'nothing': the scenario "
                       "takes name, description, currency, period, budget, stages, platforms, "
                       "lines, constraints, pools, guidelines, objective, mode, target, "
                       "periods, variants"),
    ("lines.meta-aw.maxx=1", "error: --set: lines.meta-aw.maxx: unknown field 'maxx' (did you "
                             "mean 'max'?)"),
    ("budget.max.x=1", "error: --set: budget.max.x: budget is 10000, not a mapping or a list: "
                       "'max' cannot go under it"),
])
def test_set_paths_that_do_not_exist(base_file, item, expected):
    result = run("plan", base_file, "--set", item)
    assert result.exit_code == 1 and result.output == expected + "\n"


@pytest.mark.parametrize("item, expected", [
    ("budget=lots", "error: --set budget=lots: budget: a budget is a number (e.g. budget: "
                    "250000) or a range {min, max} (e.g. budget: {max: 250000}), got 'lots'"),
    ("pools=[{rate: 0.1}]", "error: --set pools=[{rate: 0.1}]: pools[0].lines: is required but "
                            "missing"),
    ("guidelines.enforce=soft", "error: --set guidelines.enforce=soft: guidelines: soft "
                                "guidelines need penalty_per_point"),
    ("lines[0].curve.vmax=1e300", f"error: --set lines[0].curve.vmax=1e300: "
                                  f"lines[0].curve.vmax: 1e+300 {SCALE}"),
])
def test_set_values_are_blamed_on_the_option_not_the_file(base_file, item, expected):
    result = run("plan", base_file, "--set", item)
    assert result.exit_code == 1
    assert result.output.startswith(expected), result.output
    assert str(base_file) not in result.output


def test_set_exponent_number(base_file):
    result = run("plan", base_file, "--set", "budget=2e4", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.output)["summary"]["total_spend"] == pytest.approx(2e4)


@pytest.mark.parametrize("args, expected", [
    (["plan", "{f}", "--budget", "inf"], "error: --budget: must be an amount from 0 to 1e+12, "
                                         "got inf"),
    (["plan", "{f}", "--budget", "1e300"], "error: --budget: must be an amount from 0 to "
                                           "1e+12, got 1e+300"),
    (["sweep", "{f}", "--kind", "frontier", "--range", "0.5,inf"],
     "error: --range: must be LOW,HIGH with 0 <= LOW < HIGH < 1000, got 0.5,inf"),
    (["sweep", "{f}", "--kind", "tornado", "--delta", "nan"],
     "error: --delta: must be between 0 and 1 (0.2 = 20 %), got nan"),
    (["sweep", "{f}", "--kind", "uncertainty", "--draws", "3"],
     "error: --draws: must be 10 or more, got 3"),
])
def test_options_are_blamed_by_their_own_name(base_file, args, expected):
    result = run(*[str(base_file) if a == "{f}" else a for a in args])
    assert result.exit_code == 1 and result.output == expected + "\n"
