"""The BLAS floor of a training step: the same net's matrix products alone.

For every layer, the products its forward and backward rules perform (the shapes and memory
layouts of ``impl/ops``), on random arrays preallocated once, written with ``out=`` so nothing but
the products is timed:

* dense ``(in -> units)``: ``x @ W``; ``x.T @ gy``; ``gy @ W.T`` unless the layer reads only
  the network input (its input gradient is skipped);
* gaussian / gaussian_logits on the matmul path (``n * units * in >= MATMUL_MIN_SIZE``):
  ``x'^2 @ r2.T`` (per connection), ``x' @ (r2 c').T``; ``gz.T @ x'``, ``gz.T @ x'^2`` (per
  unit: ``gz.T @ q``, q the rows' sums of x'^2); ``gz @ (r2 c')`` and ``gz @ r2`` unless on
  the network input. On the direct path a distance
  layer does no matrix product, so it adds nothing to the floor.

Elementwise work, reductions, the loss and the optimizer update are what the floor leaves out;
``time(step) / time(floor)`` is how far a step is from the hardware's matrix-product speed. The
products are the step's own BLAS: numpy's, or MKL's ``dgemm`` where ``impl.ops.blas`` chose MKL
(:func:`multiply`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from descentcheck.impl.network import Network
from descentcheck.impl.ops import Layer, blas, gaussian

Product = tuple[np.ndarray, np.ndarray, np.ndarray]


def layer_products(layer: Layer, n: int, rng: np.random.Generator) -> tuple[list, list]:
    """``(a, b, out)`` for every matrix product of ``layer``'s forward rule and of its backward
    rule on n rows: ``(forward, backward)``."""
    fwd: list[Product] = []
    bwd: list[Product] = []

    def mm(into, shape_a, shape_b, transpose_a=False, transpose_b=False):
        a = rng.standard_normal(shape_a[::-1] if transpose_a else shape_a)
        b = rng.standard_normal(shape_b[::-1] if transpose_b else shape_b)
        a, b = (a.T if transpose_a else a), (b.T if transpose_b else b)
        into.append((a, b, np.empty((a.shape[0], b.shape[1]))))

    op = type(layer).__name__
    if op == "Dense":
        d, u = layer.param_shapes["W"]
        mm(fwd, (n, d), (d, u))
        mm(bwd, (d, n), (n, u), transpose_a=True)
        if layer.input_grads:
            mm(bwd, (n, u), (u, d), transpose_b=True)
    elif op == "Gaussian":
        u, d = layer.param_shapes["centroids"]
        if n * u * d < gaussian.MATMUL_MIN_SIZE:
            return fwd, bwd
        if not layer.per_unit:
            mm(fwd, (n, d), (d, u), transpose_b=True)
        mm(fwd, (n, d), (d, u), transpose_b=True)
        mm(bwd, (u, n), (n, d), transpose_a=True)
        if layer.per_unit:  # G2's row sums: gz.T @ q (x'^2's row sums)
            bwd.append((rng.standard_normal((n, u)).T, rng.standard_normal(n), np.empty(u)))
        else:
            mm(bwd, (u, n), (n, d), transpose_a=True)
        if layer.input_grads:
            mm(bwd, (n, u), (u, d))
            if layer.per_unit:
                a = rng.standard_normal((n, u))
                bwd.append((a, rng.standard_normal(u), np.empty(n)))
            else:
                mm(bwd, (n, u), (u, d))
    return fwd, bwd


def multiply(a: np.ndarray, b: np.ndarray, out: np.ndarray, by: str | None = None) -> None:
    """``a @ b`` into ``out`` by the BLAS ``by`` (``"mkl"`` or ``"numpy"``), by default the one a
    training step's large products take (``impl.ops.blas``: MKL's where it chose MKL, for 2-D
    products; numpy's otherwise)."""
    by = by or blas.provider()
    if b.ndim == 2 and by == "mkl" and blas.mkl_product(a, b, out) is not None:
        return
    np.matmul(a, b, out=out)


def products(net: Network, n: int, rng: np.random.Generator) -> list[Product]:
    """``(a, b, out)`` for every matrix product of one forward and backward pass on n rows."""
    out: list[Product] = []
    for layer in net.layers:
        fwd, bwd = layer_products(layer, n, rng)
        out += fwd + bwd
    return out


def floor_fn(
    net: Network, n: int, passes: int, seed: int = 0, by: str | None = None
) -> tuple[Callable[[], None], int]:
    """A function running the products of ``passes`` forward/backward passes (by the BLAS
    ``by``, as :func:`multiply`); and the number of products in one pass."""
    prods = products(net, n, np.random.default_rng(seed))

    def run() -> None:
        for _ in range(passes):
            for a, b, o in prods:
                multiply(a, b, o, by)

    return run, len(prods)


def torch_floor_fn(net: Network, n: int, passes: int, seed: int = 0) -> Callable[[], None]:
    """The same products, on the same arrays (shared, not copied), through PyTorch's BLAS: how
    much of PyTorch eager's lead on a machine is its matrix products alone (its BLAS against
    numpy's OpenBLAS), a lead descentcheck's own elementwise work can only add to."""
    import torch

    prods = [
        tuple(torch.from_numpy(np.asarray(t)) for t in p)
        for p in products(net, n, np.random.default_rng(seed))
    ]

    def run() -> None:
        for _ in range(passes):
            for a, b, o in prods:
                if b.dim() == 1:
                    torch.mv(a, b, out=o)
                else:
                    torch.mm(a, b, out=o)

    return run
