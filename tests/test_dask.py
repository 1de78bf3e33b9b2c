"""The dask path equals the local path, to the last bit, for the same seed: Monte Carlo of
re-optimised plans, a budget frontier, a variant set, robust plans; and the executor is
chosen as documented. Small sizes; every cluster is closed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from allocator.analysis import pool
from allocator.analysis.compare import compare_variants
from allocator.analysis.frontier import budget_frontier
from allocator.analysis.robust import robust_frontier
from allocator.analysis.suite import line_ranges
from allocator.analysis.uncertainty import monte_carlo_reoptimised, start_reoptimised
from allocator.cli import main
from allocator.errors import AllocatorError
from allocator.plan import plan_scenario
from allocator.scenario import load_scenario
from allocator.variants import load_variants

from .conftest import ROOT

distributed = pytest.importorskip("distributed")

MINIMAL = ROOT / "scenarios" / "minimal.toml"
D2C = ROOT / "scenarios" / "d2c_ecommerce.yaml"
B2B = ROOT / "scenarios" / "b2b_saas_leads.yaml"


@pytest.fixture(scope="module")
def client():
    """Two single-threaded workers in this process: fast to start, and the tasks still go
    through the scheduler (one test below ships them to worker processes)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def minimal():
    sc = load_scenario(MINIMAL)
    return sc, plan_scenario(sc)


@pytest.fixture(scope="module")
def d2c():
    sc = load_scenario(D2C)
    return sc, plan_scenario(sc)


def _mc(sc, plan, draws, **kw):
    low, high = line_ranges(sc, 0.2)
    return monte_carlo_reoptimised(plan.solution.problem, plan.solution, low, high,
                                   draws=draws, seed=7, **kw)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_monte_carlo_reoptimised_on_dask_equals_local(client, minimal, d2c):
    for (sc, plan), draws in ((minimal, 40), (d2c, 4)):
        with pool.executor("in-process"):
            local = _mc(sc, plan, draws)
        with pool.executor(client) as session:
            remote = _mc(sc, plan, draws)
            assert session.name.startswith("dask")
        _same(local.samples, remote.samples)
        _same(local.table, remote.table)
        _same(local.spend, remote.spend)
        assert local.reoptimised and local.infeasible == 0
        # each draw is re-optimised: the spend moves from draw to draw
        assert local.samples[[c for c in local.samples if c.startswith("spend:")]].std().max() > 0


def test_draws_do_not_depend_on_how_they_are_grouped(minimal):
    sc, plan = minimal
    low, high = line_ranges(sc, 0.2)
    p = plan.solution.problem
    runs = [start_reoptimised(p, plan.solution, low, high, draws=23, seed=3, chunk=k).result()
            for k in (1, 5, 23)]
    for other in runs[1:]:
        _same(runs[0].samples, other.samples)
    # and draw k is the same draw whatever the number of draws
    longer = start_reoptimised(p, plan.solution, low, high, draws=30, seed=3).result()
    _same(runs[0].samples, longer.samples.iloc[:23])


def test_reoptimised_draws_are_optimal_for_their_curves(minimal):
    """Spot check: a draw's plan is the certified optimum of its own curves."""
    from allocator.analysis.uncertainty import draw_factors, scaled_problem
    from allocator.solve import solve

    sc, plan = minimal
    low, high = line_ranges(sc, 0.2)
    unc = _mc(sc, plan, 5)
    for k in range(5):
        q = scaled_problem(plan.solution.problem, draw_factors(7, k, low, high))
        assert unc.samples["objective"][k] == pytest.approx(solve(q).objective, rel=1e-3)


def test_frontier_on_dask_equals_local(client):
    p = plan_scenario(load_scenario(B2B)).problem  # an MILP: the frontier is spread
    assert not p.is_simple
    with pool.executor("in-process"):
        local = budget_frontier(p, points=7)  # 8 budgets: two warm-started chains
    with pool.executor(client):
        remote = budget_frontier(p, points=7)
    _same(local.table, remote.table)
    assert local.target_budget == remote.target_budget


def test_variant_set_on_dask_equals_local(client):
    variants = load_variants([D2C], ["budget +10%", "no tiktok"])
    local = compare_variants(variants, scheduler="in-process")
    remote = compare_variants(variants, scheduler=client)
    _same(local.table, remote.table)
    for a, b in zip(local.plans, remote.plans, strict=True):
        assert np.array_equal(a.solution.x, b.solution.x)


def test_robust_plans_on_dask_equal_local(client, minimal):
    sc, plan = minimal
    low, high = line_ranges(sc, 0.2)
    args = (plan.solution.problem, plan.solution, low, high)
    with pool.executor("in-process"):
        local = robust_frontier(*args, risks=(0.0, 1.0), samples=20)
    with pool.executor(client):
        remote = robust_frontier(*args, risks=(0.0, 1.0), samples=20)
    for a, b in zip(local, remote, strict=True):
        assert np.array_equal(a.x, b.x) and a.objective == b.objective and a.bound == b.bound


def test_reoptimised_draws_ship_to_worker_processes(minimal):
    """Problems and Solutions pickled to real worker processes and back: same numbers.
    The MILP case caught a real difference: dask's workers run BLAS on one thread, which
    moves the solver's last bits unless every task pins it (pool._task)."""
    b2b = load_scenario(B2B)
    cases = [(minimal, 12), ((b2b, plan_scenario(b2b)), 3)]
    with pool.executor("in-process"):
        local = [_mc(sc, plan, draws) for (sc, plan), draws in cases]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c, pool.executor(c):
        remote = [_mc(sc, plan, draws) for (sc, plan), draws in cases]
    for a, b in zip(local, remote, strict=True):
        _same(a.samples, b.samples)


def test_cli_scheduler_option_reaches_the_cluster(client):
    args = ["compare", str(D2C), "--variant", "no tiktok", "--format", "csv"]
    runner = CliRunner()
    here = runner.invoke(main, [*args, "--scheduler", "in-process"])
    there = runner.invoke(main, [*args, "--scheduler", client.scheduler.address])
    assert here.exit_code == 0 and there.exit_code == 0, there.output
    assert here.output == there.output


def test_one_blas_thread_is_counted_across_overlapping_tasks():
    """Tasks in threads of one process overlap: the first to finish must not give BLAS its
    threads back while another still solves (this made a threaded cluster differ now and
    then in its last bits)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas() -> set[int]:
        return {i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"}

    before = blas()
    a, b = pool._one_blas_thread(), pool._one_blas_thread()
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)
    assert blas() == {1}  # b is still inside
    b.__exit__(None, None, None)
    assert blas() == before


def test_executor_choice(monkeypatch):
    monkeypatch.delenv(pool.SCHEDULER_ENV, raising=False)
    with pool.executor() as s:  # auto: little work stays here, nothing is started
        assert s.runner(1.0).name == "in-process" and s.name == "in-process"
    # more work: worker processes, then a LocalCluster (stand-ins: nothing is started)
    monkeypatch.setattr(pool, "_Processes", lambda n: _Named(f"{n} worker processes"))
    monkeypatch.setattr(pool._Dask, "local", classmethod(lambda cls, n: _Named("dask")))
    monkeypatch.setattr(pool, "cores", lambda: 2)
    for work, name in ((pool.AUTO_MIN_SECONDS * 2, "2 worker processes"),
                       (pool.AUTO_CLUSTER_SECONDS * 2, "dask")):
        with pool.executor() as s:
            assert s.runner(work).name == name
            assert s.runner(0.1).name == "in-process"  # a tiny job next to it stays here
    monkeypatch.setenv(pool.SCHEDULER_ENV, "in-process")
    with pool.executor(work=1e6) as s:  # the environment variable decides
        assert s.runner(1e6).name == "in-process"
        with pool.executor(work=5.0) as inner:  # a nested block uses the outer executor
            assert inner is s
    monkeypatch.setenv(pool.SCHEDULER_ENV, "SYNC")
    with pool.executor() as s:
        assert s.spec == "in-process"
    assert pool.describe() == "in-process"  # nothing open outside the blocks


def test_processes_executor_equals_in_process(minimal):
    p = plan_scenario(load_scenario(B2B)).problem
    with pool.executor("in-process"):
        local = budget_frontier(p, budgets=[0.8 * p.budget_hi, 1.2 * p.budget_hi])
    with pool.executor("processes") as s:
        remote = budget_frontier(p, budgets=[0.8 * p.budget_hi, 1.2 * p.budget_hi])
        assert "worker processes" in s.name
    _same(local.table, remote.table)


def test_unreachable_scheduler_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(distributed.Client, "__init__", _refuse)
    with pytest.raises(AllocatorError, match="cannot reach the dask scheduler"), \
            pool.executor("tcp://127.0.0.1:9") as s:
        s.runner(1.0)


class _Named:
    pooled = True

    def __init__(self, name: str):
        self.name = name

    def close(self) -> None:
        pass


def _refuse(self, *args, **kwargs):
    raise OSError("connection refused")
