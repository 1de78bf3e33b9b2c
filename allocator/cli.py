"""The `allocator` command: a thin click shell over the Python API."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

import click

from . import __version__
from .errors import AllocatorError, ScenarioError
from .progress import Progress

# The solver, the analyses, charts and report are imported by the commands that use them,
# so that `allocator --version`, `--help` and `validate` start at once. These mirror
# analysis.suite.KINDS, solve.SOLVERS and solve.DEFAULT_TOL (a test keeps them equal).
KINDS = ("frontier", "guideline", "tornado", "uncertainty")
SOLVERS = ("waterfill", "milp", "decompose")
DEFAULT_TOL = 1e-3

TEMPLATES = ("starter", "d2c_ecommerce", "b2b_saas_leads", "onesocial_paid_owned")


class _Group(click.Group):
    """Turns the package's own errors into one or two lines and exit 1, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AllocatorError as exc:  # ScenarioError, fit's ExportError: one line a problem
            for problem in getattr(exc, "problems", None) or [exc]:
                click.echo(f"error: {problem}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="allocator")
def main() -> None:
    """Certified-optimal marketing budget plans across funnel stages and platforms.

    \b
    Examples:
      allocator plan scenarios/d2c_ecommerce.yaml
      allocator plan scenarios/d2c_ecommerce.yaml --budget 300000 --out plans/q1
      allocator compare scenarios/d2c_ecommerce.yaml --out plans/q1-variants
      allocator fit scenarios/data/*.csv scenarios/data/*.xlsx --out fitted.yaml
      allocator init my_plan.yaml
      allocator validate scenarios/*.yaml
      allocator schema > scenario.schema.json
    """


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check scenario files; print one line per problem, exit 1 if any file is invalid.

    \b
    Example:
      allocator validate scenarios/d2c_ecommerce.yaml scenarios/b2b_saas_leads.yaml
    """
    from .scenario import load_scenario
    from .variants import variant_scenario

    bad = 0
    for file in files:
        try:
            sc = load_scenario(file)
            for spec in sc.variants:  # each variant must make a valid scenario too
                variant_scenario(sc, spec)
        except ScenarioError as exc:
            bad += 1
            for problem in exc.problems:
                click.echo(str(problem))
            continue
        extra = f", {len(sc.variants)} variants" if sc.variants else ""
        click.echo(f"{file}: ok ({len(sc.lines)} lines, {len(sc.stages)} stages, "
                   f"{len(sc.platforms)} platforms{extra})")
    if bad:
        raise click.exceptions.Exit(1)


@main.command()
def schema() -> None:
    """Print the JSON Schema of the scenario format (for editor completion).

    \b
    Example (VS Code, YAML extension):
      allocator schema > scenario.schema.json
      # then add  # yaml-language-server: $schema=scenario.schema.json  atop a scenario
    """
    from .scenario import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--template", "-t", type=click.Choice(TEMPLATES), default="starter",
              show_default=True, help="Which commented scenario to start from.")
@click.option("--force", is_flag=True, help="Replace an existing file at PATH.")
def init(path: Path, template: str, force: bool) -> None:
    """Write a commented starter scenario to PATH (an existing file only with --force).

    \b
    Examples:
      allocator init my_plan.yaml
      allocator init --template b2b_saas_leads leads.yaml
    """
    from .outputs.atomic import atomic_write_text, check_target

    check_target(path, force=force, option="", folder=False)
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise AllocatorError(f"{path}: templates are YAML; give a name ending in .yaml")
    text = resources.files("allocator").joinpath(f"templates/{template}.yaml").read_text("utf-8")
    atomic_write_text(path, text, force=force, option="")
    click.echo(f"wrote {path} (template {template}); next: allocator validate {path}")


_scheduler_option = click.option(
    "--scheduler", metavar="ADDRESS", envvar="ALLOCATOR_SCHEDULER", default=None,
    help="Where the re-solves run: a dask scheduler (tcp://host:8786), 'local' (a dask "
         "LocalCluster here), 'processes' or 'in-process'. Default: by the amount of work: "
         "in this process, worker processes, or a LocalCluster [env: ALLOCATOR_SCHEDULER].")


def _require(ok: bool, option: str, rule: str, value: object) -> None:
    """Refuse an option's value by the option's own name (NaN fails every rule)."""
    if not ok:
        raise AllocatorError(f"{option}: must be {rule}, got {value}")


def _budget_override(file: Path, budget: float) -> str:
    """--budget keeps the budget's form: exact stays exact, a ceiling stays a ceiling."""
    from .scenario import AMOUNTS, range_error
    from .source import read_source

    _require(range_error(budget, *AMOUNTS) is None, "--budget",
             f"an amount from 0 to {AMOUNTS[1]:g}", budget)
    data = read_source(file).data if file.exists() else None
    current = data.get("budget") if isinstance(data, dict) else None
    if isinstance(current, dict) and current.get("min") is None:
        return f"budget={{max: {budget}}}"
    return f"budget={budget}"


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path),
              help="Write a plan folder: plan.csv, plan.json, plan.xlsx, resolved scenario.")
@click.option("--budget", type=float, help="Override the total budget.")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
              help="Override any field, e.g. --set lines.meta-awareness.max=40000 "
                   "(repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="What to print.")
@click.option("--solver", type=click.Choice(["auto", *SOLVERS]), default="auto",
              show_default=True, help="Force a solver (auto picks the exact fast path "
                                      "when the scenario allows it).")
@click.option("--tol", type=float, default=DEFAULT_TOL, show_default=True,
              help="Certified optimality gap to reach (0.001 = 0.1 %).")
@click.option("--force", is_flag=True,
              help="Replace an existing --out folder (never one holding the scenario).")
@click.option("--no-sensitivity", is_flag=True,
              help="With --out: skip the sensitivity analyses (frontier, guideline price, "
                   "tornado, uncertainty) in the report.")
@click.option("--phasing", type=click.Choice(["free", "even"]), default=None,
              help="Scenarios with periods: free (the optimiser phases each line's spend) or "
                   "even (each line's total spread evenly, as PyMC-Marketing does).")
@_scheduler_option
def plan(file: Path, out: Path | None, budget: float | None, sets: tuple[str, ...], fmt: str,
         solver: str, tol: float, force: bool, no_sensitivity: bool, phasing: str | None,
         scheduler: str | None) -> None:
    """Solve a scenario to a certified optimal plan.

    \b
    Examples:
      allocator plan scenarios/d2c_ecommerce.yaml
      allocator plan scenarios/b2b_saas_leads.yaml --format json
      allocator plan scenarios/d2c_ecommerce.yaml --budget 300000 \\
          --set guidelines.enforce=hard --set guidelines.penalty_per_point=null --out plans/q1
    """
    from .analysis.suite import run_analyses
    from .outputs.console import format_table
    from .outputs.folders import write_plan_folder
    from .plan import plan_scenario
    from .scenario import load_scenario

    if not 0 < tol < 1:
        raise AllocatorError(f"--tol must be between 0 and 1 (0.001 = 0.1 %), got {tol}")
    if out is not None:  # before spending time on a solve; checked again when writing
        from .outputs.atomic import check_target

        check_target(out, force=force, inputs=[file])
    overrides = list(sets)
    if budget is not None:
        overrides.insert(0, _budget_override(file, budget))
    sc = load_scenario(file, overrides, labels=_labels(sets, budget))
    if phasing is not None:
        if sc.periods is None:
            raise AllocatorError(f"--phasing: {file} has no periods; --phasing applies to a "
                                 "scenario planned over periods (periods: {labels: ...})")
        sc = sc.model_copy(update={"periods": sc.periods.model_copy(
            update={"phasing": phasing})})
        sc._file = str(file)
    progress = Progress()
    with progress.step("solve"):
        result = plan_scenario(sc, method=solver, tol=tol)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    elif fmt == "csv":
        click.echo(result.lines.to_csv(index=False), nl=False)
    else:
        click.echo(format_table(result))
    if out is not None:
        # a guideline is priced only where the scenario has one
        kinds = tuple(k for k in KINDS if k != "guideline" or sc.guideline_bands())
        analyses = {} if no_sensitivity else _with_progress(
            progress, lambda report: run_analyses(sc, result, kinds, progress=report,
                                                  scheduler=scheduler))
        if sc.periods is not None and sc.periods.phasing == "free":
            from .analysis.phasing import phasing_value

            with progress.step("phasing"):
                analyses["phasing"] = phasing_value(sc, result.solution.objective, tol=tol)
            click.echo(analyses["phasing"].words(), err=fmt != "table")
        write_plan_folder(result, out, analyses=analyses, force=force, source=file, pdf=True,
                          progress=progress)
        pdf = "report.pdf" if (out / "report.pdf").exists() else \
            "no report.pdf: Chromium is not installed (apt-get install chromium)"
        click.echo(f"wrote {out}/ (plan.csv, plan.json, plan.xlsx, charts/, report.html, "
                   f"{pdf})", err=fmt != "table")


def _with_progress(progress: Progress, job):
    """Run analyses with one progress step per analysis (a bar on a terminal, lines in a
    log; see allocator.progress)."""
    kinds = progress.counter()
    failed = True
    try:
        found = job(kinds)
        failed = False
        return found
    finally:
        kinds.close(failed)


def _labels(sets: tuple[str, ...], budget: float | None) -> list[str]:
    """How each override is named in an error: `--budget 100` or `--set PATH=VALUE`."""
    return ([f"--budget {budget:g}"] if budget is not None else []) + \
        [f"--set {item}" for item in sets]


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--kind", "-k", type=click.Choice(KINDS), required=True,
              help="Which analysis to run.")
@click.option("--points", type=int, default=21, show_default=True,
              help="frontier: number of budgets.")
@click.option("--range", "range_", default="0.5,2", show_default=True,
              help="frontier: budgets from LOW to HIGH times the scenario's budget.")
@click.option("--delta", type=float, default=0.2, show_default=True,
              help="tornado: how far each curve's response and unit cost move (0.2 = 20 %).")
@click.option("--draws", type=int, default=2000, show_default=True,
              help="uncertainty: Monte Carlo draws.")
@click.option("--spread", type=float, default=0.2, show_default=True,
              help="uncertainty: +- spread for curves that state none (0.2 = 20 %).")
@click.option("--seed", type=int, default=0, show_default=True, help="uncertainty: seed.")
@click.option("--stage", default="awareness", show_default=True,
              help="guideline: the stage whose share moves.")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
              help="Override any field (repeatable).")
@click.option("--out", "-o", type=click.Path(path_type=Path),
              help="Also write the table (CSV) and the chart (PNG, SVG) into this folder.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@click.option("--force", is_flag=True,
              help="Replace this kind's files already in the --out folder.")
@_scheduler_option
def sweep(file: Path, kind: str, points: int, range_: str, delta: float, draws: int,
          spread: float, seed: int, stage: str, sets: tuple[str, ...], out: Path | None,
          fmt: str, force: bool, scheduler: str | None) -> None:
    """Run one sensitivity analysis on a scenario's optimal plan.

    \b
    Examples:
      allocator sweep scenarios/d2c_ecommerce.yaml --kind frontier --points 41
      allocator sweep scenarios/d2c_ecommerce.yaml --kind guideline --out sweeps/
      allocator sweep scenarios/b2b_saas_leads.yaml --kind tornado --delta 0.3
      allocator sweep scenarios/d2c_ecommerce.yaml --kind uncertainty --spread 0.25
    """
    from .analysis.suite import SweepOptions, run_analyses
    from .plan import plan_scenario
    from .scenario import load_scenario

    try:
        low, high = (float(v) for v in range_.split(","))
    except ValueError:
        raise AllocatorError(f"--range: expected LOW,HIGH such as 0.5,2, got {range_!r}") \
            from None
    _require(0 <= low < high < 1e3, "--range", "LOW,HIGH with 0 <= LOW < HIGH < 1000",
             range_)
    _require(points >= 2, "--points", "2 or more", points)
    _require(draws >= 10, "--draws", "10 or more", draws)
    _require(0 < delta < 1, "--delta", "between 0 and 1 (0.2 = 20 %)", delta)
    _require(0 <= spread < 1, "--spread", "from 0 to below 1 (0.2 = 20 %)", spread)
    names = [f"{kind}.{ext}" for ext in ("csv", "png", "svg")]
    if out is not None:  # before spending time on the sweep; checked again when writing
        from .outputs.atomic import check_files

        check_files(out, names, force=force, inputs=[file])
    sc = load_scenario(file, list(sets))
    progress = Progress()
    with progress.step("solve"):
        result = plan_scenario(sc)
    options = SweepOptions(points=points, low=low, high=high, delta=delta, draws=draws,
                           spread=spread, seed=seed, stage=stage)
    analyses = _with_progress(progress, lambda report: run_analyses(
        sc, result, (kind,), options, report, scheduler=scheduler))
    found = analyses.get(kind)
    if found is None:
        raise AllocatorError(f"--stage: no line is on stage '{stage}' in {file}; choose "
                             f"from {', '.join(dict.fromkeys(result.problem.stages))}")
    table = found.table
    if fmt == "json":
        click.echo(table.to_json(orient="records", indent=2))
    elif fmt == "csv":
        click.echo(table.to_csv(index=False), nl=False)
    else:
        click.echo(table.to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
    if out is not None:
        from .outputs import charts
        from .outputs.atomic import atomic_files

        maker = {"frontier": charts.frontier, "guideline": charts.guideline,
                 "tornado": charts.tornado, "uncertainty": charts.uncertainty}[kind]
        with atomic_files(out, names, force=force, inputs=[file]) as tmp, \
                progress.step("chart"):
            table.to_csv(tmp / f"{kind}.csv", index=False)
            charts.save(maker(found), tmp / kind)
        click.echo(f"wrote {out}/{kind}.csv, .png, .svg", err=fmt != "table")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--variant", "-v", "names", multiple=True, metavar="NAME",
              help="Compare only these variants (repeatable); the base is always first.")
@click.option("--out", "-o", type=click.Path(path_type=Path),
              help="Write a comparison folder: CSV, JSON, Excel, charts/, report.html.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="What to print.")
@click.option("--solver", type=click.Choice(["auto", *SOLVERS]), default="auto",
              show_default=True)
@click.option("--tol", type=float, default=DEFAULT_TOL, show_default=True,
              help="Certified optimality gap every variant must reach.")
@click.option("--force", is_flag=True,
              help="Replace an existing --out folder (never one holding a FILE).")
@_scheduler_option
def compare(files: tuple[Path, ...], names: tuple[str, ...], out: Path | None, fmt: str,
            solver: str, tol: float, force: bool, scheduler: str | None) -> None:
    """Solve a scenario's variants (and further files) and show them side by side.

    The first FILE's own plan is the base; then its `variants:`, then each further FILE
    (its plan and its variants). Every plan is certified as with `allocator plan`.

    \b
    Examples:
      allocator compare scenarios/d2c_ecommerce.yaml
      allocator compare scenarios/d2c_ecommerce.yaml --variant "no tiktok" --format csv
      allocator compare base.yaml q4_prices.yaml --out plans/q4-check
    """
    from .analysis.compare import compare_variants
    from .outputs.console import format_comparison
    from .outputs.folders import write_comparison_folder
    from .outputs.json import comparison_json
    from .variants import load_variants

    if not 0 < tol < 1:
        raise AllocatorError(f"--tol must be between 0 and 1 (0.001 = 0.1 %), got {tol}")
    if out is not None:  # before spending time on the solves; checked again when writing
        from .outputs.atomic import check_target

        check_target(out, force=force, inputs=files)
    variants = load_variants(list(files), list(names) or None)
    progress = Progress()
    with progress.step("solve variants", total=len(variants)) as step:
        cmp = compare_variants(variants, progress=lambda label: step.update(step.done + 1),
                               method=solver, tol=tol, scheduler=scheduler)
    if fmt == "json":
        click.echo(json.dumps(comparison_json(cmp), indent=2, default=str))
    elif fmt == "csv":
        click.echo(cmp.wide().to_csv(index=False), nl=False)
    else:
        click.echo(format_comparison(cmp))
    if out is not None:
        write_comparison_folder(cmp, out, sources=list(files), force=force, progress=progress)
        click.echo(f"wrote {out}/ (comparison.csv, .json, .xlsx, charts/, report.html)",
                   err=fmt != "table")


@main.command()
@click.argument("exports", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True,
              help="The scenario file to write (YAML).")
@click.option("--mapping", "-m", type=click.Path(path_type=Path),
              help="YAML: campaign -> stage rules, KPI columns, generic column names.")
@click.option("--period", help="Planning period: 2026-Q1, 2026-03, 2026 or 90d "
                               "(default: the quarter after the data).")
@click.option("--by", type=click.Choice(["day", "week", "month"]), default="day",
              show_default=True, help="day: fit the days, write one planning period. "
                                      "week / month: write a scenario over periods (13 weeks "
                                      "or 3 months after the data, or those of --period) with "
                                      "each line's carryover, history and, from a year of "
                                      "data, seasonality; week fits the weeks' totals, month "
                                      "fits the days.")
@click.option("--max-multiple", type=float, default=1.5, show_default=True,
              help="Each line's max: this times the highest spend per day seen.")
@click.option("--bootstrap", type=int, default=0, show_default=True,
              help="0: the band from the fit's sandwich covariance (fast, calibrated); N: "
                   "from N block-bootstrap refits instead (slower).")
@click.option("--lift", type=click.Path(path_type=Path),
              help="Lift tests (YAML or CSV: line, spend, per, incremental, low, high) that "
                   "set the level of their lines, as the mapping file's calibration:.")
@click.option("--verbose", "-v", is_flag=True,
              help="Also list the campaigns of each line (spend share, outcome, why).")
@click.option("--charts", type=click.Path(path_type=Path),
              help="Also write one chart per line (PNG) into this folder.")
@click.option("--skip-bad", is_flag=True,
              help="Leave out lines or campaigns that cannot be fitted (named in the output).")
@click.option("--force", is_flag=True, help="Replace an existing --out file or --charts folder.")
def fit(exports: tuple[Path, ...], out: Path, mapping: Path | None, period: str | None,
        by: str, max_multiple: float, bootstrap: int, lift: Path | None, verbose: bool,
        charts: Path | None, skip_bad: bool, force: bool) -> None:
    """Fit response curves from ad-platform exports and write a scenario.

    Reads Meta Ads Manager, Google Ads, LinkedIn Campaign Manager and TikTok Ads Manager
    exports (CSV or XLSX, as downloaded) or any table described by --mapping. The exports
    are only read.

    \b
    Examples:
      allocator fit scenarios/data/meta_ads_daily.csv scenarios/data/google_ads_campaigns.csv \\
          scenarios/data/linkedin_campaigns.xlsx scenarios/data/tiktok_ads.xlsx \\
          --period 2027-Q1 --out fitted.yaml --charts fit-charts
      allocator plan fitted.yaml
    """
    from .fit.pipeline import campaign_table, fit_exports, quality_table
    from .fit.scenario_writer import parse_period, scenario_text
    from .outputs.atomic import atomic_folder, atomic_write_text, check_target, holds

    inputs = [*exports, *([mapping] if mapping is not None else []),
              *([lift] if lift is not None else [])]
    # an --out that is an input is the graver mistake: say that first
    check_target(out, force=force, inputs=inputs, folder=False)  # again when writing
    if out.suffix.lower() not in (".yaml", ".yml"):  # `plan` reads the file by its suffix
        raise AllocatorError(f"--out {out}: fit writes a YAML scenario; give a name ending "
                             "in .yaml or .yml, e.g. fitted.yaml")
    if charts is not None:
        if holds(charts, out):
            raise AllocatorError(f"--charts {charts}: is or holds the --out file {out}; "
                                 "choose another --charts")
        check_target(charts, force=force, inputs=inputs, option="--charts")
    _require(1 <= max_multiple <= 1000, "--max-multiple", "from 1 to 1000", max_multiple)
    _require(bootstrap >= 0, "--bootstrap", "0 or more", bootstrap)
    if period is not None:
        from datetime import date

        parse_period(period, date.today())  # a bad period fails before the work
    with Progress().step("fit lines") as step:
        run = fit_exports(list(exports), mapping=mapping, by=by, bootstrap=bootstrap,
                          skip_bad=skip_bad, lift=lift, progress=step.update)
    text = scenario_text(run.fits, period=period, by=by, multiple=max_multiple,
                         sources=run.sources, skipped=run.skipped)
    click.echo(quality_table(run).to_string(index=False))
    if verbose:
        click.echo("")
        click.echo(campaign_table(run).to_string(index=False))
    for f in run.fits:
        for w in f.warnings:
            click.echo(f"warning: {f.series.name}: {w}")
        for flag in f.series.flags:
            click.echo(f"check: {f.series.name}: {flag}")
    for s in run.skipped:
        click.echo(f"skipped: {s}")
    if charts is None:
        atomic_write_text(out, text, force=force, inputs=inputs)
    else:
        from .fit.fit_charts import fit_chart
        from .outputs import charts as chart_module

        with atomic_folder(charts, force=force, inputs=inputs, option="--charts") as tmp_dir:
            for f in run.fits:
                chart_module.save(fit_chart(f), tmp_dir / f.series.name)
            atomic_write_text(out, text, force=force, inputs=inputs)  # no scenario alone
    click.echo(f"wrote {out} ({len(run.fits)} lines); next: allocator plan {out}")
    if charts is not None:
        click.echo(f"wrote {charts}/ ({len(run.fits)} charts, PNG and SVG)")
