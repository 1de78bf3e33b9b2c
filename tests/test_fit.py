"""`allocator fit`: readers on each platform's format and locale, fits against known curves,
fit -> validate -> plan, and every error a planner can cause."""

import hashlib
import shutil
from datetime import date

import numpy as np
import pytest
from click.testing import CliRunner

from allocator.analysis.suite import line_ranges
from allocator.cli import main
from allocator.curves import Hill
from allocator.fit.fitting import fit_line
from allocator.fit.mapping import LineSeries, Mapping, build_lines
from allocator.fit.pipeline import fit_exports
from allocator.fit.readers import ExportError, parse_numbers, read_export
from allocator.fit.scenario_writer import parse_period
from allocator.fit.synthetic import SAMPLE_LINES, TrueLine, simulate
from allocator.plan import plan_scenario
from allocator.scenario import load_scenario

from .conftest import ROOT

DATA = ROOT / "scenarios" / "data"
SAMPLES = sorted(DATA.glob("*.csv")) + sorted(DATA.glob("*.xlsx"))


# --- readers -----------------------------------------------------------------------------


@pytest.mark.parametrize("name, platform, columns", [
    ("meta_ads_daily.csv", "meta", {"impressions", "link_clicks", "purchases", "revenue"}),
    ("google_ads_campaigns.csv", "google", {"impressions", "conversions", "revenue"}),
    ("linkedin_campaigns.xlsx", "linkedin", {"impressions", "link_clicks", "leads"}),
    ("tiktok_ads.xlsx", "tiktok", {"impressions", "reach", "purchases", "revenue"}),
])
def test_each_sample_export_is_recognised(name, platform, columns):
    ex = read_export(DATA / name)
    assert ex.platform == platform
    assert columns <= set(ex.frame.columns)
    assert (ex.frame["currency"] == "EUR").all()
    assert ex.frame["date"].min() == date(2026, 5, 1)
    assert ex.frame["spend"].gt(0).all()
    assert any("SYNTHETIC" in n for n in ex.notes) or name.startswith("google")


def test_google_totals_are_dropped_and_match_the_rows():
    ex = read_export(DATA / "google_ads_campaigns.csv")
    text = (DATA / "google_ads_campaigns.csv").read_text().splitlines()
    total = float(text[-1].split('"')[1].replace(",", ""))
    assert ex.frame["spend"].sum() == pytest.approx(total, abs=0.05)


@pytest.mark.parametrize("cells, expected", [
    (["1.234,56", "12,5", "--"], [1234.56, 12.5, 0.0]),           # German
    (["1,234.56", "12.5", "-"], [1234.56, 12.5, 0.0]),            # English
    (["Rp 1.234.567", "Rp 50.000", "Rp 999"], [1234567, 50000, 999]),  # Indonesian Rupiah
    (["€ 1.234,50", "€12,00", ""], [1234.5, 12.0, 0.0]),
    (["$1,234", "$12.50"], [1234, 12.5]),
    (["12%", "(5.00)"], [12, -5]),
])
def test_locale_numbers(cells, expected):
    assert parse_numbers(cells) == pytest.approx(expected)


def _write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


GERMAN_META = """Bericht erstellt am 01.02.2026
Kampagnenname;Berichtsbeginn;Ziel;Ausgegebener Betrag (EUR);Impressionen;Käufe
Sommer | Reichweite;01.01.2026;Bekanntheit;1.234,56;100.000;--
Sommer | Reichweite;02.01.2026;Bekanntheit;999,10;80.500;--
Gesamt;;;2.233,66;180.500;
"""


def test_german_meta_export_with_notes_and_totals(tmp_path):
    ex = read_export(_write(tmp_path, "meta.csv", GERMAN_META))
    assert ex.platform == "meta" and len(ex.frame) == 2
    assert ex.frame["spend"].tolist() == pytest.approx([1234.56, 999.10])
    assert ex.frame["impressions"].tolist() == [100000, 80500]
    assert ex.frame["date"].tolist() == [date(2026, 1, 1), date(2026, 1, 2)]
    assert ex.notes == ["Bericht erstellt am 01.02.2026"]


def test_indonesian_tiktok_and_utf16_google(tmp_path):
    tiktok = ("By Day,Campaign name,Cost,Impressions\n"
              '2026-01-01,Reach ID,"Rp 1.500.000","120.000"\n'
              '2026-01-02,Reach ID,"Rp 2.000.000","150.000"\n')
    ex = read_export(_write(tmp_path, "tt.csv", tiktok))
    assert ex.platform == "tiktok" and ex.frame["currency"].iloc[0] == "IDR"
    assert ex.frame["spend"].tolist() == [1_500_000, 2_000_000]
    google = ("Campaign report\nAll time\nDay\tCampaign\tCost\tImpr.\tConversions\n"
              "1/5/2026\tSearch\t1,234.50\t10,000\t12.5\n"
              "1/6/2026\tSearch\t1,000.00\t9,000\t--\nTotal: Account\t\t2,234.50\t19,000\t12.5\n")
    ex = read_export(_write(tmp_path, "g.csv", google, "utf-16"))
    assert ex.platform == "google" and len(ex.frame) == 2
    assert ex.frame["date"].tolist() == [date(2026, 1, 5), date(2026, 1, 6)]  # US month first
    assert ex.frame["conversions"].tolist() == [12.5, 0.0]


def test_generic_table_with_a_column_mapping(tmp_path):
    path = _write(tmp_path, "pins.csv", "Datum;Kampagne;Kosten;Käufe;Umsatz\n"
                  "2026-01-01;Pins | Sales;100,5;3;150\n2026-01-02;Pins | Sales;90;2;100\n")
    ex = read_export(path, columns={"date": "Datum", "campaign": "Kampagne", "spend": "Kosten",
                                    "outcome": "Käufe", "value": "Umsatz"})
    assert ex.platform == "generic"
    assert ex.frame["spend"].tolist() == [100.5, 90.0]
    assert ex.frame["revenue"].tolist() == [150, 100]


def test_period_parsing():
    assert parse_period("2026-Q1", date(2025, 1, 1)) == ("2026-Q1", 90)
    assert parse_period("2024-Q1", date(2025, 1, 1)) == ("2024-Q1", 91)
    assert parse_period("2026-02", date(2025, 1, 1)) == ("2026-02", 28)
    assert parse_period("60d", date(2025, 1, 1)) == ("60 days", 60)
    assert parse_period(None, date(2026, 11, 2)) == ("2027-Q1", 90)


# --- fitting against known curves ----------------------------------------------------------


def _series(line: TrueLine, seed: int, days: int = 182, noise: float = 0.08) -> LineSeries:
    sim = simulate(line, days, date(2026, 1, 1), np.random.default_rng(seed), noise)
    return LineSeries(line.platform, line.stage, None, "purchases", "EUR",
                      np.array(sim["dates"], dtype="datetime64[D]"), sim["spend"],
                      sim["outcome"], np.zeros(days))


@pytest.mark.parametrize("line", SAMPLE_LINES, ids=lambda t: t.name)
def test_fit_stays_within_5_percent_of_the_truth(line):
    """Moderate noise (8 %, weekday effects, campaign budget changes): over the spend the
    data covers, the fitted response is within 5 % of the curve that made the data."""
    f = fit_line(_series(line, seed=11), bootstrap=0)
    grid = np.linspace(f.spend_min, f.spend_max, 60)
    err = np.abs(f.value(grid) / line.curve.value(grid) - 1)
    assert err.max() < 0.05, f"{line.name}: {err.max():.1%} off with {f.family}"
    assert f.r2 > 0.8 and f.identified


def test_the_truth_lies_inside_the_band():
    """Over many simulated histories, the true response at the median spend lies inside
    the reported 95 % band almost always (a band that is right, not merely wide)."""
    inside, widths = [], []
    for seed in range(12):
        line = SAMPLE_LINES[seed % len(SAMPLE_LINES)]
        f = fit_line(_series(line, seed=100 + seed), bootstrap=40, seed=seed)
        mid = float(np.median(f.series.spend[f.series.spend > 0]))
        lo, hi = np.interp(mid, f.grid, f.band_lo), np.interp(mid, f.grid, f.band_hi)
        truth = float(line.curve.value(mid))
        inside.append(lo <= truth <= hi)
        widths.append((hi - lo) / truth)
    assert sum(inside) >= 10, inside
    assert np.median(widths) < 0.15  # and not uselessly wide


def test_weekly_fits_and_saturation_not_identified():
    line = TrueLine("meta", "conversion", (("x", "Sales"),), 60, 1000, 1.3, 600)
    s = _series(line, seed=3, days=365)
    flat = s.spend.copy()
    flat[flat > 0] = 600 * np.exp(np.random.default_rng(0).normal(0, 0.05, (flat > 0).sum()))
    s.spend, s.outcome = flat, line.curve.value(flat) * np.exp(
        np.random.default_rng(1).normal(0, 0.05, len(flat)))
    f = fit_line(s, bootstrap=10)
    assert not f.identified and "cannot identify saturation" in " ".join(f.warnings)
    assert not fit_line(s).identified  # the fast band says so too


# --- end to end ---------------------------------------------------------------------------


def test_fit_then_validate_then_plan(tmp_path):
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in SAMPLES}
    out, charts = tmp_path / "fitted.yaml", tmp_path / "charts"
    runner = CliRunner()
    r = runner.invoke(main, ["fit", *map(str, SAMPLES), "--period", "2027-Q1", "--out",
                             str(out), "--charts", str(charts), "--bootstrap", "12"])
    assert r.exit_code == 0, r.output
    assert "R2" in r.output and "meta-conversion" in r.output
    assert before == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in SAMPLES}
    r = runner.invoke(main, ["validate", str(out)])
    assert r.exit_code == 0 and "9 lines" in r.output
    sc = load_scenario(out)
    plan = plan_scenario(sc)
    assert plan.violations == [] and not plan.baseline_violations
    assert plan.solution.objective >= plan.baseline_objective - 1e-6
    lo, hi = line_ranges(sc, 0.2)
    assert np.all(lo < 1) and np.all(hi > 1) and np.all(hi - lo < 0.4)  # from the bootstrap
    assert len(list(charts.glob("*.png"))) == 9
    text = out.read_text()
    assert "ASSUMPTION" in text and "R2" in text and "spend seen" in text
    r = runner.invoke(main, ["fit", *map(str, SAMPLES), "--out", str(out)])
    assert r.exit_code == 1 and "already exists" in r.output


# --- errors -------------------------------------------------------------------------------


def _fit_error(tmp_path, text: str, *extra, name="meta.csv", encoding="utf-8") -> str:
    path = _write(tmp_path, name, text, encoding)
    r = CliRunner().invoke(main, ["fit", str(path), "--out", str(tmp_path / "o.yaml"), *extra])
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.exception
    assert "Traceback" not in r.output and not (tmp_path / "o.yaml").exists()
    return r.output


def _days(n, spend=lambda d: 100 + 10 * (d % 7), campaign="Sales DE", objective="Sales",
          start=0):
    rows = ["Campaign name,Reporting starts,Objective,Amount spent (EUR),Purchases"]
    for d in range(start, start + n):
        day = date.fromordinal(date(2026, 1, 1).toordinal() + d)
        rows.append(f"{campaign},{day},{objective},{spend(d):.2f},{spend(d) / 20:.1f}")
    return "\n".join(rows) + "\n"


def test_missing_column_names_what_was_expected(tmp_path):
    out = _fit_error(tmp_path, _days(30).replace("Amount spent (EUR)", "Amount spnt (EUR)"))
    assert "cannot find the header row" in out and "spend: expected 'Amount spent'" in out
    assert "did you mean 'Amount spnt (EUR)'" in out


def test_bad_number_and_bad_date_name_row_and_column(tmp_path):
    text = _days(30).splitlines()
    text[5] = text[5].replace(",Sales,", ",Sales,").rsplit(",", 2)[0] + ",12x4,5"
    out = _fit_error(tmp_path, "\n".join(text) + "\n")
    assert "meta.csv:6: column 'Amount spent (EUR)': '12x4' is not a number" in out
    text = _days(30).splitlines()
    text[3] = text[3].replace("2026-01-03", "2026-13-45")
    out = _fit_error(tmp_path, "\n".join(text) + "\n")
    assert "meta.csv:4: column 'Reporting starts': '2026-13-45' is not a date" in out


def test_negative_spend_and_duplicated_days(tmp_path):
    out = _fit_error(tmp_path, _days(30, spend=lambda d: -50 if d == 4 else 100 + d))
    assert "meta.csv:6: negative spend -50.00" in out
    text = _days(30)
    out = _fit_error(tmp_path, text + text.splitlines()[3] + "\n")
    assert "has 2026-01-03 more than once (rows 4, 32)" in out


def test_too_few_points_and_spend_that_never_varies(tmp_path):
    out = _fit_error(tmp_path, _days(12))
    assert ("line meta-conversion (meta.csv; campaign 'Sales DE'): 12 days with spend; a "
            "curve needs at least 20") in out
    out = _fit_error(tmp_path, _days(40, spend=lambda d: 250.0))
    assert "spend never varies (about 250.00 every day)" in out


def test_mixed_currencies_in_one_line(tmp_path):
    a = _write(tmp_path, "a.csv", _days(30).replace("Amount spent (EUR)", "Amount spent (EUR)"))
    b = _write(tmp_path, "b.csv", _days(30, start=30).replace("(EUR)", "(USD)"))
    r = CliRunner().invoke(main, ["fit", str(a), str(b), "--out", str(tmp_path / "o.yaml")])
    assert r.exit_code == 1 and f"the exports are in EUR and USD ({a} in EUR; {b} in USD)" \
        in r.output


def test_unknown_campaign_stops_unless_skip_bad(tmp_path):
    good = _days(60, spend=lambda d: 100 + 40 * ((d // 9) % 4) + 5 * (d % 7))
    odd = _days(60, campaign="Project Zebra", objective="", spend=lambda d: 80 + d)
    text = good + "\n".join(odd.splitlines()[1:]) + "\n"
    out = _fit_error(tmp_path, text)
    assert "campaign 'Project Zebra': cannot tell its funnel stage" in out
    path = tmp_path / "meta.csv"
    r = CliRunner().invoke(main, ["fit", str(path), "--out", str(tmp_path / "o.yaml"),
                                  "--skip-bad", "--bootstrap", "5"])
    assert r.exit_code == 0, r.output
    assert "skipped:" in r.output and "Project Zebra" in r.output
    assert "Project Zebra" in (tmp_path / "o.yaml").read_text()  # named in the scenario too


def test_mapping_file_assigns_stages_and_reports_its_own_mistakes(tmp_path):
    mapping = tmp_path / "map.yaml"
    mapping.write_text("campaigns: {'Project Zebra': conversion}\nrules:\n  - {match: '(', "
                       "stage: awareness}\n")
    odd = _days(40, campaign="Project Zebra", objective="",
                spend=lambda d: 100 + 40 * ((d // 9) % 4))
    out = _fit_error(tmp_path, odd, "--mapping", str(mapping))
    assert "rules[0].match: not a regular expression" in out
    mapping.write_text("campaigns: {'Project Zebra': conversion}\n")
    path = tmp_path / "meta.csv"
    r = CliRunner().invoke(main, ["fit", str(path), "--out", str(tmp_path / "o.yaml"),
                                  "--mapping", str(mapping), "--bootstrap", "5"])
    assert r.exit_code == 0, r.output
    lines, _ = build_lines([read_export(path)], Mapping(campaigns={"Project Zebra": "loyalty"}))
    assert lines[0].stage == "loyalty"


def test_a_bad_line_stops_the_run_unless_skip_bad(tmp_path):
    shutil.copy(DATA / "meta_ads_daily.csv", tmp_path / "meta_ads_daily.csv")
    short = _write(tmp_path, "tt.csv", "By Day,Campaign name,Advertising objective,Cost,"
                   "Complete payment\n" + "".join(
                       f"2026-05-{d + 1:02d},TT Sales,Product sales,{100 + d * 7},{3 + d}\n"
                       for d in range(10)))
    with pytest.raises(ExportError, match="tt.csv; campaign 'TT Sales'\\): 10 days with spend"):
        fit_exports([tmp_path / "meta_ads_daily.csv", short], bootstrap=0)
    run = fit_exports([tmp_path / "meta_ads_daily.csv", short], bootstrap=0, skip_bad=True)
    assert {f.series.name for f in run.fits} == {"meta-awareness", "meta-consideration",
                                                  "meta-conversion"}
    assert any("tiktok-conversion" in s for s in run.skipped)


def test_hill_fit_recovers_an_s_curve():
    line = TrueLine("tiktok", "conversion", (("x", "Sales"),), 47, 900, 1.6, 380)
    f = fit_line(_series(line, seed=5, noise=0.05), bootstrap=0)
    assert f.family == "hill" and isinstance(f.curve, Hill)
    assert f.curve.s == pytest.approx(1.6, rel=0.2)


def test_weekly_fit_drops_cut_weeks_and_agrees_with_daily():
    daily = fit_exports(SAMPLES, bootstrap=0)
    weekly = fit_exports(SAMPLES, by="week", bootstrap=0)
    for d, w in zip(daily.fits, weekly.fits, strict=True):
        dates = w.series.dates
        assert len(dates) == 25  # 182 days from a Friday: the cut first and last weeks go
        assert (np.diff(dates) == np.timedelta64(7, "D")).all()
        # a week's outcome at 7x a day's spend is near 7 days at that spend
        x = 0.5 * (d.spend_min + d.spend_max)
        assert float(w.value(7 * x)) == pytest.approx(7 * float(d.value(x)), rel=0.08)
