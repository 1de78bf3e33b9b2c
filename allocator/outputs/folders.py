"""Output folders: a plan folder and a comparison folder, every format written at once
(see `atomic.atomic_folder`: complete or not there at all)."""

from __future__ import annotations

from pathlib import Path

import yaml

from .. import __version__
from ..analysis.compare import Comparison
from ..plan import Plan
from ..progress import Progress
from . import charts, csv, excel, html, json
from .atomic import atomic_folder
from .comparison_charts import comparison_charts

__all__ = ["write_plan_folder", "write_comparison_folder", "write_charts"]


def write_charts(plan: Plan, analyses: dict | None, folder: Path,
                 progress: Progress | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (progress or _QUIET).step("charts") as step:
        figs = charts.all_charts(plan, analyses or {})
        for done, (name, fig) in enumerate(figs.items(), 1):
            charts.save(fig, folder / name)
            step.update(done, len(figs))


_QUIET = Progress(enabled=False)


def _plan_files(plan: Plan, tmp: Path, analyses: dict | None, source, progress: Progress
                ) -> None:
    """plan.csv, plan.json, plan.xlsx and the resolved scenario."""
    with progress.step("tables"):
        csv.write_plan_csv(plan, tmp / "plan.csv")
        data = json.plan_json(plan, source)
        (tmp / "plan.json").write_text(json.dumps(data), encoding="utf-8")
        excel.write_workbook(plan, analyses, tmp / "plan.xlsx")
        resolved = plan.scenario.model_dump(
            mode="json", exclude_none=True,
            exclude={"variants"} if not plan.scenario.variants else None)
        header = (f"# resolved scenario written by allocator {__version__}"
                  + (f" from {source} (sha256 {data['tool']['input_sha256']})" if source
                     else "") + "\n")
        (tmp / "scenario.resolved.yaml").write_text(
            header + yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True),
            encoding="utf-8")


def write_plan_folder(plan: Plan, out: str | Path, *, analyses: dict | None = None,
                      force: bool = False, source: str | Path | None = None,
                      report: bool = True, pdf: bool = False,
                      progress: Progress | None = None) -> Path:
    """Write the plan folder atomically: plan.csv, plan.json, plan.xlsx, the resolved
    scenario and (with `report`) charts/, report.html and (with `pdf`, when Chromium is
    installed) report.pdf all go to a temporary folder beside the target, which replaces
    the target only when complete. `progress` shows each step that takes a second."""
    progress = progress or _QUIET
    with atomic_folder(out, force=force, inputs=[source] if source else []) as tmp:
        _plan_files(plan, tmp, analyses, source, progress)
        if report:
            write_charts(plan, analyses, tmp / "charts", progress)
            with progress.step("report"):
                (tmp / "report.html").write_text(html.render_html(plan, analyses, source),
                                                 encoding="utf-8")
            if pdf:
                from .pdf import write_pdf

                with progress.step("report.pdf"):
                    write_pdf(tmp / "report.html", tmp / "report.pdf")
    return Path(out)


def write_comparison_folder(cmp: Comparison, out: str | Path, *, sources: list[str | Path],
                            force: bool = False, progress: Progress | None = None) -> Path:
    """comparison.csv, comparison.json, comparison.xlsx, charts/ and report.html, written
    all at once (see `atomic_folder`)."""
    progress = progress or _QUIET
    with atomic_folder(out, force=force, inputs=sources) as tmp:
        csv.write_comparison_csv(cmp, tmp / "comparison.csv")
        (tmp / "comparison.json").write_text(json.dumps(json.comparison_json(cmp)),
                                             encoding="utf-8")
        excel.write_comparison_workbook(cmp, tmp / "comparison.xlsx")
        (tmp / "charts").mkdir()
        with progress.step("charts") as step:
            figs = comparison_charts(cmp)
            for done, (key, fig) in enumerate(figs.items(), 1):
                charts.save(fig, tmp / "charts" / key)
                step.update(done, len(figs))
        with progress.step("report"):
            (tmp / "report.html").write_text(html.render_comparison_html(cmp, sources),
                                             encoding="utf-8")
    return Path(out)
