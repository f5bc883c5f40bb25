"""Small random spec-v1 DAGs with skip connections, and parameters and data that fit them.

The DAGs come from the one generator, :func:`descentcheck.impl.random_dag.random_dag`, in
theory's shape (:func:`theory_shape`): every op of the registry's spec v1 (relu included, and
activations alone on a merge or the input), every skip merge ``add`` and ``concat``, a concat
that reads one node twice, a dense or gaussian_logits head for either loss. Every choice goes
through a :class:`~descentcheck.impl.random_dag.Draws`, so the same code serves a seeded run
(:class:`~descentcheck.impl.random_dag.SeededDraws`, for ``python -m descentcheck.theory`` and
the sweep) and Hypothesis (:class:`~descentcheck.impl.random_dag.HypothesisDraws`, in the
tests, so failures shrink and replay).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from descentcheck.impl.random_dag import DagShape, Draws, random_dag
from descentcheck.registry import ops as registry

Array = np.ndarray
#: the op names a sweep's ``exclude_ops`` may give (the sweep config reads them)
ACTIVATIONS: tuple[str, ...] = registry.names("elementwise")
LAYERS: tuple[str, ...] = registry.names("parametric")


def theory_shape(max_steps: int = 5) -> DagShape:
    """Theory's DAG family, skip-heavy so that every merge path of backprop is exercised:
    2..``max_steps`` blocks (one per construction step), a skip edge to each earlier block with
    probability 3/4, merged by ``add`` twice as often as by ``concat`` where the widths agree
    (the network width is the input's, so skips from the input can be added too), every
    activation (relu included) after a layer or, one block in five, alone, a concat reading a
    lone parent twice one time in five, every loss (a non-smooth plugin's too), a dense or
    gaussian_logits head for either loss."""
    return DagShape(
        min_blocks=min(2, max_steps),
        max_blocks=max_steps,
        activations=registry.names("elementwise"),
        losses=registry.names("loss"),
        merges=("add", "add", "concat"),
        skip=3 / 4,
        drop_chain=1 / 3,
        own_width=1 / 8,
        input_width=1.0,
        bare_activation=1 / 5,
        repeat_input=1 / 5,
        mse_heads=("dense", "gaussian_logits"),
        max_mse_outputs=3,
    )


def random_spec(draws: Draws, max_steps: int = 5) -> dict[str, Any]:
    """A random spec dict of :func:`theory_shape`."""
    return random_dag(draws, theory_shape(max_steps))


# value ranges: keep every Gaussian exponent and activation in a range where float64 holds the
# result without underflow, so relative errors mean something
RANGES = {
    "W": (-1.0, 1.0),
    "b": (-0.5, 0.5),
    "centroids": (-1.0, 1.0),
    "radii": (0.3, 1.2),
    "x": (-1.5, 1.5),
}


def random_params(draws: Draws, param_shapes: dict[str, tuple[int, ...]]) -> dict[str, Array]:
    """Parameters drawn from :data:`RANGES` (radii get a random sign too)."""
    out: dict[str, Array] = {}
    for key, shape in param_shapes.items():
        kind = key.rsplit(".", 1)[1]
        lo, hi = RANGES[kind]
        vals = [draws.floats(lo, hi) for _ in range(int(np.prod(shape)))]
        if kind == "radii":
            vals = [v if draws.integers(0, 1) else -v for v in vals]
        out[key] = np.array(vals, dtype=np.float64).reshape(shape)
    return out


def random_data(draws: Draws, spec: dict[str, Any], out_width: int, n: int) -> tuple[Array, Array]:
    """Inputs in :data:`RANGES` and targets: reals in [-1, 1] for mse, probability rows
    (normalised positive draws) for softmax cross-entropy."""
    lo, hi = RANGES["x"]
    x = np.array([[draws.floats(lo, hi) for _ in range(spec["inputs"])] for _ in range(n)])
    if spec["loss"] == "mse":
        y = np.array([[draws.floats(-1.0, 1.0) for _ in range(out_width)] for _ in range(n)])
    else:
        y = np.array([[draws.floats(0.05, 1.0) for _ in range(out_width)] for _ in range(n)])
        y = y / y.sum(axis=1, keepdims=True)
    return x, y
