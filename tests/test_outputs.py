"""Outputs that cannot be lost: every writing command goes through a temporary sibling and a
rename under a lock, never replaces without --force, never replaces its own inputs, survives
being killed half-way, and makes folders and files with the modes the umask says."""

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from allocator.cli import main
from allocator.errors import AllocatorError
from allocator.outputs import atomic as output
from allocator.outputs.atomic import atomic_files, atomic_folder, atomic_write_text

from .conftest import ROOT

MINIMAL = ROOT / "scenarios" / "minimal.toml"
META = ROOT / "scenarios" / "data" / "meta_ads_daily.csv"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def hidden(folder: Path) -> list[str]:
    """What a run may leave behind: temporaries, set-aside folders, lock files (pytest keeps
    a .lock of its own above each test's folder)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")
                  and p.name != ".lock")


@pytest.fixture
def scenario(tmp_path) -> Path:
    path = tmp_path / "in" / "base.toml"
    path.parent.mkdir()
    shutil.copy(MINIMAL, path)
    return path


@pytest.fixture(params=["renameat2", "fallback"])
def renames(request, monkeypatch):
    """Both ways of moving into place: Linux's renameat2 and the portable fallback."""
    if request.param == "fallback":
        monkeypatch.setattr(output, "_RENAMEAT2", None)
    elif output._RENAMEAT2 is None:
        pytest.skip("no renameat2 here")
    return request.param


# --- a temporary sibling, renamed into place, for every writing command ---------------------


def _commands(tmp_path, scenario):
    export, other = tmp_path / "in" / "meta.csv", tmp_path / "in" / "other.toml"
    shutil.copy(META, export)
    shutil.copy(MINIMAL, other)
    return {
        "plan": (["plan", scenario, "--out", tmp_path / "o" / "plan", "--no-sensitivity"],
                 tmp_path / "o" / "plan"),
        "compare": (["compare", scenario, other, "--out", tmp_path / "o" / "cmp"],
                    tmp_path / "o" / "cmp"),
        "sweep": (["sweep", scenario, "--kind", "frontier", "--points", "3", "--out",
                   tmp_path / "o" / "sweeps"], tmp_path / "o" / "sweeps" / "frontier.csv"),
        "fit": (["fit", export, "--bootstrap", "0", "--out", tmp_path / "o" / "fitted.yaml",
                 "--charts", tmp_path / "o" / "fit-charts"], tmp_path / "o" / "fitted.yaml"),
        "init": (["init", tmp_path / "o" / "new.yaml"], tmp_path / "o" / "new.yaml"),
    }


@pytest.mark.parametrize("command", ["plan", "compare", "sweep", "fit", "init"])
def test_every_writing_command_renames_a_finished_temporary_into_place(
        command, tmp_path, scenario, monkeypatch):
    args, target = _commands(tmp_path, scenario)[command]
    placed = []
    real = output._place

    def spy(tmp, target, **kw):
        temporary = next(p for p in (Path(tmp), Path(tmp).parent)
                         if f".allocator-tmp-{os.getpid()}-" in p.name)
        assert temporary.parent == Path(target).parent  # a sibling: one rename, no copy
        placed.append(Path(target))
        real(tmp, target, **kw)

    monkeypatch.setattr(output, "_place", spy)
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert target in placed
    for folder in {p.parent for p in placed}:
        assert hidden(folder) == []  # no temporary, no lock file left


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_modes_follow_the_umask(umask, tmp_path):
    old = os.umask(umask)
    try:
        with atomic_folder(tmp_path / "plan") as tmp:
            (tmp / "plan.csv").write_text("x")
            (tmp / "charts").mkdir()
        atomic_write_text(tmp_path / "fitted.yaml", "a: 1\n")
        with atomic_files(tmp_path / "sweeps", ["frontier.csv"]) as tmp:
            (tmp / "frontier.csv").write_text("x")
    finally:
        os.umask(old)

    def mode(p):
        return stat.S_IMODE(p.stat().st_mode)

    for folder in (tmp_path / "plan", tmp_path / "plan" / "charts", tmp_path / "sweeps"):
        assert mode(folder) == 0o777 & ~umask, folder
    for file in (tmp_path / "plan" / "plan.csv", tmp_path / "fitted.yaml",
                 tmp_path / "sweeps" / "frontier.csv"):
        assert mode(file) == 0o666 & ~umask, file


def test_fit_writes_its_scenario_with_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        result = run("fit", META, "--bootstrap", "0", "--out", tmp_path / "fitted.yaml")
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((tmp_path / "fitted.yaml").stat().st_mode) == 0o644


# --- a lock on the target --------------------------------------------------------------------


def test_a_second_writer_of_the_same_target_is_refused(tmp_path):
    out = tmp_path / "plan"
    with atomic_folder(out) as tmp:
        (tmp / "a").write_text("first")
        with pytest.raises(AllocatorError, match=rf"--out {out}: another allocator run "
                                                 rf"\(pid {os.getpid()}\) is writing it now; "
                                                 "wait for it to finish or choose another --out"):
            with atomic_folder(out, force=True):
                pass
    assert (out / "a").read_text() == "first"
    assert hidden(tmp_path) == []  # the lock file goes with the lock


SLOW_PLAN = r"""
import sys, time
from pathlib import Path
import allocator.outputs.excel as report

ready, release = Path(sys.argv[1]), Path(sys.argv[2])
real = report.write_workbook

def slow_workbook(plan, analyses, path):
    path.write_bytes(b"PK\x03\x04 cut short")  # a workbook half written
    ready.touch()
    while not release.exists():
        time.sleep(0.05)
    real(plan, analyses, path)

report.write_workbook = slow_workbook
from allocator.cli import main
main(sys.argv[3:], prog_name="allocator")
"""


def _slow_plan(tmp_path, *args) -> tuple[subprocess.Popen, Path]:
    """A `plan` run in another process that stops in the middle of writing plan.xlsx until
    tmp_path/release appears (the test's only hook: a monkeypatch in that process)."""
    ready, release = tmp_path / "ready", tmp_path / "release"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_PLAN, ready, release, "plan", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the slow run never started writing"
        time.sleep(0.05)
    return proc, release


def test_two_plan_runs_on_the_same_out_at_once_one_writes_the_other_refuses(tmp_path, scenario):
    out = tmp_path / "plans" / "q1"
    first, release = _slow_plan(tmp_path, scenario, "--out", out, "--no-sensitivity")
    try:
        second = run("plan", scenario, "--out", out, "--no-sensitivity")
        assert second.exit_code == 1
        assert f"error: --out {out}: another allocator run (pid {first.pid}) is writing it " \
               "now" in second.output
        second = run("plan", scenario, "--out", out, "--no-sensitivity", "--force")
        assert second.exit_code == 1 and "is writing it now" in second.output
    finally:
        release.touch()
        stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert f"wrote {out}/" in stdout + stderr
    third = run("plan", scenario, "--out", out, "--no-sensitivity")
    assert third.exit_code == 1 and "already exists" in third.output
    assert hidden(out.parent) == []


def test_a_target_made_meanwhile_by_another_program_is_not_replaced(tmp_path, renames):
    out = tmp_path / "plan"
    with pytest.raises(AllocatorError, match="was created by another program while this run "
                                             "was writing; choose another --out or add --force"):
        with atomic_folder(out) as tmp:
            (tmp / "plan.csv").write_text("new")
            out.mkdir()  # empty: a plain os.rename would silently replace it
    assert out.is_dir() and list(out.iterdir()) == []
    assert hidden(tmp_path) == []
    sweeps = tmp_path / "sweeps"
    with pytest.raises(AllocatorError, match="created by another program"):
        with atomic_files(sweeps, ["frontier.csv"]) as tmp:
            (tmp / "frontier.csv").write_text("new")
            (sweeps / "frontier.csv").write_text("theirs")
    assert (sweeps / "frontier.csv").read_text() == "theirs"


def test_force_replaces_a_folder_in_one_step(tmp_path, renames):
    out = tmp_path / "plan"
    with atomic_folder(out) as tmp:
        (tmp / "old.csv").write_text("old")
    with atomic_folder(out, force=True) as tmp:
        (tmp / "new.csv").write_text("new")
    assert [p.name for p in out.iterdir()] == ["new.csv"]
    assert hidden(tmp_path) == []


# --- never replace without --force -----------------------------------------------------------


def test_sweep_out_keeps_earlier_files_unless_force(tmp_path, scenario):
    out = tmp_path / "sweeps"
    args = ["sweep", scenario, "--kind", "frontier", "--points", "3", "--out", out]
    assert run(*args).exit_code == 0
    (out / "frontier.csv").write_text("earlier")
    (out / "notes.txt").write_text("mine")
    result = run(*args)
    assert result.exit_code == 1
    assert f"error: --out {out}: frontier.csv, frontier.png, frontier.svg already exist; " \
           "choose another --out or add --force to replace them" in result.output
    assert (out / "frontier.csv").read_text() == "earlier"
    assert run(*args, "--force").exit_code == 0
    assert (out / "frontier.csv").read_text() != "earlier"
    assert (out / "notes.txt").read_text() == "mine"  # other files in the folder are left alone
    assert hidden(out) == []


def test_init_and_fit_keep_an_existing_file_unless_force(tmp_path):
    target = tmp_path / "plan.yaml"
    target.write_text("mine")
    result = run("init", target)
    assert result.exit_code == 1
    assert f"{target}: already exists; choose another name or add --force" in result.output
    result = run("fit", META, "--out", target)
    assert result.exit_code == 1
    assert f"--out {target}: already exists; choose another --out or add --force" \
        in result.output
    assert target.read_text() == "mine"
    assert run("init", target, "--force").exit_code == 0
    assert "lines:" in target.read_text()


# --- --force never takes the run's inputs ----------------------------------------------------


def test_force_refuses_an_out_folder_holding_the_scenario(tmp_path, scenario):
    before = scenario.read_bytes()
    result = run("plan", scenario, "--out", scenario.parent, "--force")
    assert result.exit_code == 1
    assert f"error: --out {scenario.parent}: contains the input {scenario}; a folder holding " \
           "an input is never replaced, even with --force; choose another --out" in result.output
    result = run("plan", scenario, "--out", scenario, "--force")
    assert result.exit_code == 1 and f"is the input {scenario}, which is never overwritten" \
        in result.output
    other = tmp_path / "cmp" / "other.toml"
    other.parent.mkdir()
    shutil.copy(MINIMAL, other)
    result = run("compare", scenario, other, "--out", other.parent, "--force")
    assert result.exit_code == 1 and f"contains the input {other}" in result.output
    assert scenario.read_bytes() == before and other.exists()


def test_fit_force_refuses_to_overwrite_its_export_or_mapping(tmp_path):
    export = tmp_path / "x.csv"
    shutil.copy(META, export)
    before = export.read_bytes()
    result = run("fit", export, "--out", export, "--force")
    assert result.exit_code == 1
    assert f"error: --out {export}: is the input {export}, which is never overwritten, even " \
           "with --force; choose another --out" in result.output
    mapping = tmp_path / "m.yaml"
    mapping.write_text("platform: meta\n")
    result = run("fit", export, "--mapping", mapping, "--out", mapping, "--force")
    assert result.exit_code == 1 and f"is the input {mapping}" in result.output
    charts = tmp_path / "charts"
    charts.mkdir()
    shutil.copy(export, charts / "y.csv")
    result = run("fit", charts / "y.csv", "--out", tmp_path / "f.yaml", "--charts", charts,
                 "--force")
    assert result.exit_code == 1 and f"--charts {charts}: contains the input {charts}/y.csv" \
        in result.output
    assert export.read_bytes() == before and mapping.read_text() == "platform: meta\n"


def test_fit_charts_never_replaces_the_out_file_and_is_blamed_by_its_own_name(tmp_path):
    out = tmp_path / "f.yaml"
    result = run("fit", META, "--out", out, "--charts", out, "--force")
    assert result.exit_code == 1
    assert f"--charts {out}: is or holds the --out file {out}" in result.output
    (tmp_path / "c").write_text("a file")
    result = run("fit", META, "--out", out, "--charts", tmp_path / "c")
    assert result.exit_code == 1
    assert f"--charts {tmp_path / 'c'}: is a file, not a folder; choose another --charts" \
        in result.output
    assert not out.exists()  # refused before anything was written


def test_out_the_current_folder_or_a_parent_is_refused(tmp_path, scenario, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for out in (".", "..", str(tmp_path)):
        result = run("plan", scenario, "--out", out, "--force")
        assert result.exit_code == 1, out
        assert f"error: --out {out}: is the current folder or holds it, which is never " \
               "replaced, even with --force" in result.output
        assert "Traceback" not in result.output
    assert hidden(tmp_path) == [] and hidden(tmp_path.parent) == []


# --- places that cannot be written -----------------------------------------------------------


@pytest.fixture
def read_only(tmp_path, monkeypatch) -> Path:
    """A folder this user cannot write to. Root writes anywhere, so for root the check of
    access is told the truth a normal user would get."""
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "old.csv").write_text("old")
    folder.chmod(0o555)
    if os.geteuid() == 0:
        real = os.access

        def access(path, mode, **kw):
            if mode & os.W_OK and Path(path).resolve().is_relative_to(folder):
                return False
            return real(path, mode, **kw)

        monkeypatch.setattr(output.os, "access", access)
    yield folder
    folder.chmod(0o755)


def test_out_in_or_onto_a_read_only_folder_is_a_clear_error(tmp_path, scenario, read_only):
    result = run("plan", scenario, "--out", read_only / "plan")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"error: --out {read_only / 'plan'}: cannot write in {read_only} (read-only); " \
           "choose a folder you can write to" in result.output
    result = run("plan", scenario, "--out", read_only, "--force")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"error: --out {read_only}: is a read-only folder, which --force cannot replace; " \
           "make it writable or choose another --out" in result.output
    assert sorted(p.name for p in read_only.iterdir()) == ["old.csv"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no .old


def test_a_system_error_while_writing_is_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "plan"
    with pytest.raises(AllocatorError, match=r"--out .*plan: cannot write: No space left on "
                                             "device"):
        with atomic_folder(out) as tmp:
            (tmp / "plan.csv").write_text("x")
            raise OSError(28, os.strerror(28))
    assert not out.exists() and hidden(tmp_path) == []


# --- killed half-way -------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_run_killed_while_writing_leaves_the_old_output(sig, tmp_path, scenario):
    out = tmp_path / "plan"
    assert run("plan", scenario, "--out", out, "--no-sensitivity").exit_code == 0
    old = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    proc, _ = _slow_plan(tmp_path, scenario, "--out", out, "--no-sensitivity", "--force")
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode == -sig  # ended by the signal, as before
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == old
    left = hidden(tmp_path)
    if sig == signal.SIGTERM:
        assert left == []  # SIGTERM unwinds: the temporary and the lock are removed
    else:
        assert [n for n in left if n.startswith(f".plan.allocator-tmp-{proc.pid}-")]
        # the next run on the target recognises the leftovers of the dead run
        assert run("plan", scenario, "--out", out, "--no-sensitivity", "--force"
                   ).exit_code == 0
        assert hidden(tmp_path) == []


def test_a_leftover_of_a_live_run_is_spared_and_an_old_folder_set_aside_is_put_back(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    out = tmp_path / "plan"
    aside = tmp_path / f".plan.allocator-old-{dead}-0badf00d"  # a fallback swap cut short
    aside.mkdir()
    (aside / "plan.csv").write_text("old")
    live = tmp_path / f".plan.allocator-tmp-{os.getppid()}-12345678"
    live.mkdir()
    with pytest.raises(AllocatorError, match="already exists"):
        with atomic_folder(out):
            pass
    assert (out / "plan.csv").read_text() == "old" and not aside.exists()
    assert live.exists()
