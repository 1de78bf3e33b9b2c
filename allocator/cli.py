"""The `allocator` command: a thin click shell over the Python API."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

import click

from . import __version__
from .errors import AllocatorError, ScenarioError
from .scenario import json_schema, load_scenario

TEMPLATES = ("starter", "d2c_ecommerce", "b2b_saas_leads", "onesocial_paid_owned")


class _Group(click.Group):
    """Turns the package's own errors into one or two lines and exit 1, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ScenarioError as exc:
            for problem in exc.problems:
                click.echo(f"error: {problem}", err=True)
            sys.exit(1)
        except AllocatorError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="allocator")
def main() -> None:
    """Certified-optimal marketing budget plans across funnel stages and platforms.

    \b
    Examples:
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
    bad = 0
    for file in files:
        try:
            sc = load_scenario(file)
        except ScenarioError as exc:
            bad += 1
            for problem in exc.problems:
                click.echo(str(problem))
            continue
        click.echo(f"{file}: ok ({len(sc.lines)} lines, {len(sc.stages)} stages, "
                   f"{len(sc.platforms)} platforms)")
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
    click.echo(json.dumps(json_schema(), indent=2))


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--template", "-t", type=click.Choice(TEMPLATES), default="starter",
              show_default=True, help="Which commented scenario to start from.")
def init(path: Path, template: str) -> None:
    """Write a commented starter scenario to PATH (never overwrites a file).

    \b
    Examples:
      allocator init my_plan.yaml
      allocator init --template b2b_saas_leads leads.yaml
    """
    if path.exists():
        raise AllocatorError(f"{path}: already exists; choose another name or delete it first")
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise AllocatorError(f"{path}: templates are YAML; give a name ending in .yaml")
    text = resources.files("allocator").joinpath(f"templates/{template}.yaml").read_text("utf-8")
    try:
        with path.open("x", encoding="utf-8") as fh:  # "x": fail rather than overwrite
            fh.write(text)
    except OSError as exc:
        raise AllocatorError(f"{path}: cannot write: {exc.strerror}") from None
    click.echo(f"wrote {path} (template {template}); next: allocator validate {path}")
