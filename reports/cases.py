"""Random small DAG problems from a seeded numpy generator, for the report's descent-region study.

The property tests draw their cases through Hypothesis (so failures shrink); a report wants
something else: many cases, the same ones for the same seed, no shrinking. The DAGs come from the
one generator, :func:`descentcheck.impl.random_dag.random_dag`, drawing from the report's
``numpy.random.Generator`` (:class:`~descentcheck.impl.random_dag.SeededDraws`) in the report's
shape (:func:`report_shape`): 1-4 blocks of one width (2-4), each reading its predecessor and,
with probability 2/5 each, earlier blocks too (skip connections, merged by ``add`` or ``concat``);
each block a dense (twice as likely) or distance layer with a smooth activation (a gaussian layer
is its own nonlinearity); unread blocks merged into the output layer; mse or softmax
cross-entropy. Data: x uniform on [-2, 2], targets uniform on [-1, 1] (mse) or random labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from descentcheck.impl.random_dag import DagShape, SeededDraws, random_dag, skip_edges


@dataclass(frozen=True)
class CaseLimits:
    """Sizes of the report's cases (the DAGs' shape is :func:`report_shape`) and their data."""

    max_blocks: int = 4
    max_width: int = 4
    max_inputs: int = 3
    min_rows: int = 4
    max_rows: int = 12
    skip_p: float = 0.4


def report_shape(limits: CaseLimits = CaseLimits()) -> DagShape:
    """The report's DAG family (see the module docstring)."""
    dense_twice = ("dense", *DagShape().layers)
    return DagShape(
        min_blocks=1,
        max_blocks=limits.max_blocks,
        min_width=2,
        max_width=limits.max_width,
        max_inputs=limits.max_inputs,
        layers=dense_twice,
        skip=limits.skip_p,
        drop_chain=0.0,
        own_width=0.0,
    )


def random_spec(rng: np.random.Generator, limits: CaseLimits = CaseLimits()) -> dict[str, Any]:
    """A spec v1 dict for a random DAG with skip connections (see the module docstring)."""
    return random_dag(SeededDraws(rng), report_shape(limits))


def random_data(
    rng: np.random.Generator, spec: dict[str, Any], limits: CaseLimits = CaseLimits()
) -> tuple[np.ndarray, np.ndarray]:
    """x (n, inputs) uniform on [-2, 2]; y uniform on [-1, 1] (mse) or int labels."""
    from descentcheck.impl.spec import load_spec

    s = load_spec(spec)
    n = int(rng.integers(limits.min_rows, limits.max_rows + 1))
    x = rng.uniform(-2.0, 2.0, size=(n, s.inputs))
    m = s.out_width
    if s.loss == "mse":
        y = rng.uniform(-1.0, 1.0, size=(n, m))
    else:
        y = rng.integers(0, m, size=n).astype(np.int64)
    return x, y


__all__ = ["CaseLimits", "random_data", "random_spec", "report_shape", "skip_edges"]
