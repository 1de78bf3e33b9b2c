"""`allocator fit --by month|week` writes a scenario over periods (#13 item 6): the plan's
periods after the data, each line's carryover (per period, within its interval) and history,
seasonality from the data's months when they cover a year; the file validates and plans."""

from datetime import date, timedelta

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from allocator.cli import main
from allocator.fit.fitting import conversion
from allocator.fit.scenario_writer import plan_periods
from allocator.fit.synthetic import TrueLine, simulate

LAM = 0.6  # true carryover per day of the awareness line
START = date(2025, 9, 1)


def _export(path, days: int, december: float = 1.0):
    """A Meta export (English) of two lines: awareness with carryover LAM per day, and
    conversion without; `december` multiplies the outcomes of December (seasonality)."""
    rng = np.random.default_rng(11)
    lines = [TrueLine("meta", "awareness", (("Reach | DE", "Awareness"),), 300_000, 2500, 0.9,
                      600, carryover=LAM),
             TrueLine("meta", "conversion", (("Sales | DE", "Sales"),), 900, 1000, 1.3, 500)]
    rows = ["Day,Campaign name,Objective,Currency,Amount spent (EUR),Impressions,Purchases"]
    for line in lines:
        sim = simulate(line, days, START, rng, 0.06)
        for d in range(days):
            x, y = sim["spend"][d], sim["outcome"][d]
            if x <= 0:
                continue
            day = START + timedelta(d)
            y *= december if day.month == 12 else 1.0
            imps, buys = (y, 0.0) if line.stage == "awareness" else (x / 0.008, y)
            rows.append(f"{day},{line.campaigns[0][0]},{line.campaigns[0][1]},EUR,{x:.2f},"
                        f"{imps:.0f},{buys:.1f}")
    path.write_text("\n".join(rows) + "\n")
    return path


def _fit(tmp_path, csv, by: str, plan: bool = True) -> dict:
    out = tmp_path / f"fitted_{by}.yaml"
    r = CliRunner().invoke(main, ["fit", str(csv), "--by", by, "--out", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    if plan:
        _plans(out)
    return {"text": text, "doc": yaml.safe_load(text), "fit": r.output, "out": out}


def _plans(path) -> None:
    r = CliRunner().invoke(main, ["plan", str(path)])
    assert r.exit_code == 0, r.output
    assert "optimal" in r.output


def _line(doc, name):
    return next(ln for ln in doc["lines"] if ln["name"] == name)


def _interval(text: str, name: str) -> tuple[float, float]:
    block = text[text.index(f"- name: {name}"):]
    block = block[block.index("carryover:"):].split("\n", 1)[0]
    lo, hi = block.split("90 % interval ")[1].split(";")[0].split("-")
    return float(lo), float(hi)


@pytest.fixture(scope="module")
def year_csv(tmp_path_factory):
    return _export(tmp_path_factory.mktemp("fp") / "meta.csv", 440, december=1.3)


def test_by_month_writes_periods_with_carryover_history_and_seasonality(tmp_path, year_csv):
    got = _fit(tmp_path, year_csv, "month")
    doc, text = got["doc"], got["text"]
    # the data end 2026-11-14: the plan is the three months after
    assert doc["periods"]["labels"] == "2026-12 .. 2027-02"
    aw = _line(doc, "meta-awareness")
    truth = conversion(LAM, 365.25 / 12)  # the daily carryover per month of even spend
    lo, hi = _interval(text, "meta-awareness")
    assert lo <= truth <= hi and lo <= aw["carryover"] <= hi
    assert aw["history"] and all(v > 0 for v in aw["history"])
    # November 2026 is seen for 14 of its 30 days: scaled to the month
    assert "14 of 30 days observed" in text
    conv = _line(doc, "meta-conversion")
    assert "carryover" not in conv and "history" not in conv
    assert "# no carryover" in text
    # a year of data: seasonality per month; December's outcomes were 30 % up
    rules = doc["periods"]["seasonality"]
    dec = {r["select"]["name"]: r["response"]["2026-12"] for r in rules}
    assert all(v > 1.15 for v in dec.values())
    assert "per month of effective spend per month" in text


def test_by_week_labels_weeks_and_converts_the_carryover(tmp_path, year_csv):
    got = _fit(tmp_path, year_csv, "week", plan=False)
    doc, text = got["doc"], got["text"]
    assert doc["periods"]["labels"] == "W01 .. W13"
    # the data end on Saturday 2026-11-14: their last whole week ends 2026-11-08
    assert "W01 is 2026-11-09 to 2026-11-15" in text
    aw = _line(doc, "meta-awareness")
    lo, hi = _interval(text, "meta-awareness")
    assert lo <= conversion(LAM, 7) <= hi and lo <= aw["carryover"] <= hi
    assert len(aw["history"]) >= 2  # 0.2 per week: two weeks still reach the plan by >= 1 %


def test_by_week_plans(tmp_path, year_csv):
    _plans(_fit(tmp_path, year_csv, "week", plan=False)["out"])


def test_less_than_a_year_says_why_there_is_no_seasonality(tmp_path):
    csv = _export(tmp_path / "short.csv", 200)
    got = _fit(tmp_path, csv, "month")
    assert "seasonality" not in got["doc"]["periods"]
    assert "less than a year" in got["text"]
    assert "carryover" in _line(got["doc"], "meta-awareness")


def test_by_day_still_writes_one_period(tmp_path):
    csv = _export(tmp_path / "short.csv", 200)
    out = tmp_path / "day.yaml"
    r = CliRunner().invoke(main, ["fit", str(csv), "--out", str(out)])
    assert r.exit_code == 0, r.output
    doc = yaml.safe_load(out.read_text())
    assert "periods" not in doc and "carryover" not in _line(doc, "meta-awareness")


def test_plan_periods_rules():
    labels, spans, _ = plan_periods("month", date(2026, 10, 31), None)
    assert labels == ["2026-11", "2026-12", "2027-01"]
    labels, spans, _ = plan_periods("month", date(2026, 10, 31), "2027-Q2")
    assert labels == ["2027-04", "2027-05", "2027-06"]
    labels, spans, _ = plan_periods("week", date(2026, 11, 15), None)  # a Sunday
    assert labels[0] == "W01" and len(labels) == 13 and spans[0][0] == date(2026, 11, 16)
