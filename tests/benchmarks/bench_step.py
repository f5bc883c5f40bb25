"""Per training step: descentcheck's trainer against PyTorch eager and JAX, and the BLAS floor.

A step is a forward pass, a backward pass and a momentum update (``torch.optim.SGD(lr,
momentum)``; descentcheck's ``momentum``, the same update in torch's buffer form). Each timed call
trains S steps (50 on the small nets, 20 on the large one) from the same initial parameters, as
descentcheck's ``train`` does: S + 1 forward/backward passes (E(w_S) and its gradient are
recorded too) and S updates; per-step time = call time / S for every side alike. All sides run in this process and are warmed up
first (JAX compiles at warm-up; its compile time is measured on its own by
``test_jax_compile``). Before timing, each side's loss trajectory is checked against
descentcheck's (relative 1e-8): the same nets are trained.

The ratios the goals are stated in are measured *interleaved* (``test_ratio``): one round of
side A, one of side B, repeated, so that a change of load on a shared machine hits both alike;
each records the median of the per-round ratios and the ratio of the two minima in its
``extra_info``, with the cores each side computed on (CPU time over wall time) and its page
faults. Nothing here asserts a time: ``render_table.py`` turns the JSON into the table. A ratio
fails only when a side computed on more cores than the bench's thread count (that comparison
would be unfair).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable

import numpy as np
import pytest
from nets import LARGE, SMALL, problem

from descentcheck.impl.network import Network
from descentcheck.impl.ops.gaussian import MATMUL_MIN_SIZE
from descentcheck.impl.trainer import train

LR = 0.01
BETA = 0.5
CASES = [*SMALL, *LARGE]
Maker = Callable[[], Callable[[], object]]
THREADS = int(os.environ.get("DESCENTCHECK_BENCH_THREADS", "1"))  # as conftest.py reads it


def steps_of(case: str) -> int:
    return 20 if case in LARGE else 50


def rounds_of(case: str) -> int:
    return 3 if case in LARGE else 25


def _label(benchmark, case: str, impl: str, **extra) -> None:
    pb = problem(case)
    benchmark.group = f"step {case}"
    benchmark.extra_info.update(
        kind="step",
        case=case,
        impl=impl,
        steps=steps_of(case),
        batch=len(pb.x),
        n_params=Network.from_spec(pb.spec).n_params,
        **extra,
    )


def _reference_losses(case: str) -> np.ndarray:
    pb = problem(case)
    net = Network.from_spec(pb.spec)
    t = train(net, pb.params, pb.x, pb.y, "momentum", lr=LR, momentum=BETA, steps=steps_of(case))
    return t.losses


def _same_trajectory(label: str, losses, case: str) -> None:
    ref = _reference_losses(case)
    np.testing.assert_allclose(np.asarray(losses), ref, rtol=1e-8, err_msg=label)


@pytest.mark.parametrize("case", CASES)
def test_descentcheck(benchmark, case):
    pb = problem(case)
    net = Network.from_spec(pb.spec)
    S = steps_of(case)

    def run():
        return train(net, pb.params, pb.x, pb.y, "momentum", lr=LR, momentum=BETA, steps=S)

    assert run().status == "completed"
    _label(benchmark, case, "descentcheck")
    benchmark.pedantic(run, rounds=rounds_of(case), iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("case", CASES)
def test_torch(benchmark, case):
    pytest.importorskip("torch", reason="torch is installed by tox -e bench, the side it times")
    from torch_side import TorchRun

    pb = problem(case)
    S = steps_of(case)

    def make():
        return (TorchRun(pb.spec, pb.params, pb.x, pb.y, LR, BETA, MATMUL_MIN_SIZE),), {}

    _same_trajectory("torch", make()[0][0].run(S), case)
    _label(benchmark, case, "torch")
    benchmark.pedantic(
        lambda r: r.run(S), setup=make, rounds=rounds_of(case), iterations=1, warmup_rounds=1
    )


@pytest.mark.parametrize("case", CASES)
def test_jax(benchmark, case):
    pytest.importorskip("jax", reason="jax is installed by tox -e bench, the side it times")
    from jax_side import JaxRun

    pb = problem(case)
    S = steps_of(case)
    r = JaxRun(pb.spec, pb.params, pb.x, pb.y, LR, BETA, MATMUL_MIN_SIZE)
    _same_trajectory("jax", r.run(S), case)  # compiles
    _label(benchmark, case, "jax")
    benchmark.pedantic(r.run, args=(S,), rounds=rounds_of(case), iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("case", CASES)
def test_jax_compile(benchmark, case):
    pytest.importorskip("jax", reason="jax is installed by tox -e bench, the side it times")
    from jax_side import JaxRun

    pb = problem(case)
    r = JaxRun(pb.spec, pb.params, pb.x, pb.y, LR, BETA, MATMUL_MIN_SIZE)
    benchmark.group = "jax compile"
    benchmark.extra_info.update(kind="jax_compile", case=case, impl="jax")
    benchmark.pedantic(r.compile_seconds, rounds=3, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("case", list(LARGE))
def test_blas_floor(benchmark, case):
    from floor import floor_fn

    pb = problem(case)
    net = Network.from_spec(pb.spec)
    S = steps_of(case)
    run, n_products = floor_fn(net, len(pb.x), passes=S + 1)
    _label(benchmark, case, "floor", products_per_pass=n_products)
    benchmark.pedantic(run, rounds=rounds_of(case), iterations=1, warmup_rounds=1)


def _usage() -> tuple[float, float, int]:
    """Wall clock, this process's CPU time (all its threads) and its minor page faults."""
    return time.perf_counter(), time.process_time(), resource.getrusage(resource.RUSAGE_SELF)[6]


@pytest.mark.parametrize("case", list(LARGE))
def test_torch_floor(benchmark, case):
    """The BLAS floor's products (the same arrays) through torch's BLAS
    (``floor.torch_floor_fn``)."""
    pytest.importorskip("torch", reason="torch is installed by tox -e bench, the side it times")
    from floor import torch_floor_fn

    pb = problem(case)
    net = Network.from_spec(pb.spec)
    S = steps_of(case)
    run = torch_floor_fn(net, len(pb.x), passes=S + 1)
    _label(benchmark, case, "torch_floor")
    benchmark.pedantic(run, rounds=rounds_of(case), iterations=1, warmup_rounds=1)


def _paired(benchmark, make_a: Maker, make_b: Maker, rounds: int) -> None:
    """Time ``a`` and ``b`` alternately for ``rounds`` rounds (after one warm-up round each),
    each freshly made by its maker outside the timing; store both minima, the ratio of the
    minima and the median per-round ratio a/b, and for each side the most CPU time over wall
    time of a round (the cores it computed on) and its minor page faults per round."""
    ta: list[float] = []
    tb: list[float] = []
    used: dict[str, list[tuple[float, int]]] = {"a": [], "b": []}

    def timed(side: str, f: Callable[[], object]) -> float:
        w0, c0, f0 = _usage()
        f()
        w1, c1, f1 = _usage()
        used[side].append(((c1 - c0) / (w1 - w0), f1 - f0))
        return w1 - w0

    def one_round() -> None:
        a, b = make_a(), make_b()
        ta.append(timed("a", a))
        tb.append(timed("b", b))

    one_round()
    ta.clear()
    tb.clear()
    used["a"].clear()
    used["b"].clear()
    benchmark.pedantic(one_round, rounds=rounds, iterations=1)
    ratios = np.array(ta) / np.array(tb)
    benchmark.extra_info.update(
        min_a=min(ta),
        min_b=min(tb),
        ratio_of_minima=min(ta) / min(tb),
        median_ratio=float(np.median(ratios)),
        rounds=rounds,
        **{f"cores_{k}": max(c for c, _ in v) for k, v in used.items()},
        **{f"faults_{k}": float(np.median([n for _, n in v])) for k, v in used.items()},
    )
    if THREADS:  # a side on more cores than the others would be compared unfairly
        for k in ("a", "b"):
            side, cores = benchmark.extra_info[k], benchmark.extra_info[f"cores_{k}"]
            assert cores <= THREADS + 0.25, f"{side} computed on {cores:.2f} cores of {THREADS}"


def _dc_maker(case: str) -> Maker:
    pb = problem(case)
    net = Network.from_spec(pb.spec)
    S = steps_of(case)

    def run():
        return train(net, pb.params, pb.x, pb.y, "momentum", lr=LR, momentum=BETA, steps=S)

    return lambda: run


def _torch_maker(case: str) -> Maker:
    pytest.importorskip("torch", reason="torch is installed by tox -e bench, the side it times")
    from torch_side import TorchRun

    pb = problem(case)
    S = steps_of(case)

    def make():
        r = TorchRun(pb.spec, pb.params, pb.x, pb.y, LR, BETA, MATMUL_MIN_SIZE)
        return lambda: r.run(S)

    return make


def _jax_maker(case: str) -> Maker:
    pytest.importorskip("jax", reason="jax is installed by tox -e bench, the side it times")
    from jax_side import JaxRun

    pb = problem(case)
    S = steps_of(case)
    r = JaxRun(pb.spec, pb.params, pb.x, pb.y, LR, BETA, MATMUL_MIN_SIZE)
    r.run(S)  # compile
    return lambda: lambda: r.run(S)


def _floor_maker(case: str) -> Maker:
    from floor import floor_fn

    pb = problem(case)
    run, _ = floor_fn(Network.from_spec(pb.spec), len(pb.x), passes=steps_of(case) + 1)
    return lambda: run


GOALS = {("small", "torch"): 0.33, ("large", "floor"): 1.2, ("large", "torch"): 1.0}
PAIRS = [(c, o) for c in SMALL for o in ("torch", "jax")] + [
    (c, o) for c in LARGE for o in ("floor", "torch", "jax")
]


@pytest.mark.parametrize(("case", "other"), PAIRS, ids=[f"{c}-{o}" for c, o in PAIRS])
def test_ratio(benchmark, case, other):
    """descentcheck / other per step, interleaved; the goals: <= 0.33 against PyTorch eager on
    small DAGs, <= 1.2 against the BLAS floor on the large net."""
    make_other = {"torch": _torch_maker, "jax": _jax_maker, "floor": _floor_maker}[other](case)
    goal = GOALS.get(("large" if case in LARGE else "small", other))
    benchmark.group = "ratios"
    benchmark.extra_info.update(kind="ratio", case=case, a="descentcheck", b=other, goal=goal)
    rounds = 10 if case in LARGE else rounds_of(case)
    _paired(benchmark, _dc_maker(case), make_other, rounds)


@pytest.mark.parametrize("case", list(LARGE))
def test_blas_choice(benchmark, case):
    """The BLAS floor through MKL's ``dgemm`` against numpy's BLAS, interleaved: whether
    ``impl.ops.blas`` chose the faster one on this machine (MKL on Intel CPUs, numpy's elsewhere:
    a choice made from other machines' timings, which this checks where the bench runs)."""
    from floor import floor_fn

    from descentcheck.impl.ops import blas, mkl_runtime

    rt = mkl_runtime.runtime()
    if rt is None or not rt.reproducible:
        pytest.skip("MKL's runtime (the mkl extra, which tox -e bench installs) is not usable")
    pb = problem(case)
    net, passes = Network.from_spec(pb.spec), steps_of(case) + 1
    by_mkl, _ = floor_fn(net, len(pb.x), passes, by="mkl")
    by_numpy, _ = floor_fn(net, len(pb.x), passes, by="numpy")
    benchmark.group = "blas choice"
    benchmark.extra_info.update(
        kind="blas_choice",
        case=case,
        a="mkl_floor",
        b="numpy_floor",
        chosen=blas.provider(),
        steps=steps_of(case),
    )
    _paired(benchmark, lambda: by_mkl, lambda: by_numpy, 10)


@pytest.mark.parametrize("case", list(LARGE))
def test_breakdown(benchmark, case):
    """Per layer: forward and backward time, matrix products against the rest
    (``breakdown.py``); the numbers land in ``extra_info`` and the rendered table."""
    from breakdown import step_breakdown

    pb = problem(case)
    net = Network.from_spec(pb.spec)
    repeats = 9
    out: dict = {}

    def run() -> None:
        out.update(step_breakdown(net, pb.params, pb.x, pb.y, LR, BETA, repeats=repeats))

    benchmark.group = "breakdown"
    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(kind="breakdown", case=case, repeats=repeats, **out)
    assert out["products"] > 0.0
