"""Per training step of large reproductions on the GPU (CuPy backend) and the CPU (numpy backend).

Deep distance networks (Kurbiel & Khaleghian 2017): ``digits_distance`` on the full digits set
(1797 x 64, three Gaussian layers of 32 units and a ``gaussian_logits`` output), and a wider one
on larger inputs (8192 rows of 256 features around 10 cluster centres; Gaussian layers of 256 and
128 units). Each call trains S steps of RMSProp full batch from the same initial parameters; the
per-step time is the call time over S. ``extra_info["device"]`` records where it ran (the GPU's
name, or the CPU model). The CuPy side skips, with the reason, without CuPy or a CUDA GPU; before
timing it checks that its losses equal the CPU run's to 1e-10 relative.

Run on a GPU machine with ``tox -e gpu``; ``tox -e bench`` collects it too (CPU rows only there).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pytest

from descentcheck.impl.backend import get_backend
from descentcheck.impl.data import load_data
from descentcheck.impl.errors import BackendError
from descentcheck.impl.examples import EXAMPLES
from descentcheck.impl.network import Network
from descentcheck.impl.trainer import train

STEPS = 5
LR = 0.01

WIDE_DISTANCE = {
    "inputs": 256,
    "output": "logits",
    "loss": "softmax_cross_entropy",
    "nodes": [
        {"name": "g1", "op": "gaussian", "units": 256, "inputs": ["input"]},
        {"name": "g2", "op": "gaussian", "units": 256, "inputs": ["g1"]},
        {"name": "g3", "op": "gaussian", "units": 128, "inputs": ["g2"]},
        {"name": "logits", "op": "gaussian_logits", "units": 10, "inputs": ["g3"]},
    ],
}


@cache
def problem(case: str) -> tuple[dict[str, Any], np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    if case == "digits_distance_full":
        ds = load_data("digits")
        spec, x, y = EXAMPLES["digits_distance"], ds.x, ds.y
    else:  # wide_distance_8192x256
        rng = np.random.default_rng(7)
        centres = rng.standard_normal((10, 256))
        y = rng.integers(0, 10, 8192)
        x = centres[y] + 0.8 * rng.standard_normal((8192, 256))
        spec = WIDE_DISTANCE
    net = Network.from_spec(spec)
    return spec, x, y, net.init(seed=0, x=x)


CASES = ("digits_distance_full", "wide_distance_8192x256")


def _run(case: str, backend: str):
    spec, x, y, params = problem(case)
    return train(Network.from_spec(spec), params, x, y, "rmsprop", lr=LR, steps=STEPS,
                 backend=backend)  # fmt: skip


@pytest.mark.parametrize("backend", ["numpy", "cupy"])
@pytest.mark.parametrize("case", CASES)
def test_step_on_device(benchmark, case, backend):
    try:
        be = get_backend(backend)
    except BackendError as e:
        pytest.skip(str(e))
    ref = _run(case, "numpy")
    first = _run(case, backend)  # warm-up: CuPy compiles its kernels on first use
    np.testing.assert_allclose(first.losses, ref.losses, rtol=1e-10)
    spec, x, _, _ = problem(case)
    benchmark.group = f"device {case}"
    benchmark.extra_info.update(
        kind="device_step",
        case=case,
        backend=backend,
        device=be.device,
        steps=STEPS,
        batch=len(x),
        n_params=Network.from_spec(spec).n_params,
    )
    benchmark.pedantic(_run, args=(case, backend), rounds=3, iterations=1)
