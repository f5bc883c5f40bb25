"""JAX (jit, float64) training steps for the benchmarks, written from DESIGN.md's formulas.

One jitted function does a whole step: the loss and its gradient (``jax.value_and_grad``) and
torch's momentum buffer update ``buf = beta buf + g`` (``buf_{-1} = 0``), ``w -= lr buf``.
Distance layers use the direct form below descentcheck's matmul size and the expanded
matrix-product form above it, as on the torch side. Compilation happens at the first call of a
fresh jitted function; :meth:`JaxRun.compile_seconds` times tracing, lowering and compiling one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

INPUT = "input"


def _order(spec: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = {n["name"]: n for n in spec["nodes"]}
    done, order = {INPUT}, []
    while len(order) < len(nodes):
        for name, node in nodes.items():
            if name not in done and all(p in done for p in node["inputs"]):
                order.append(node)
                done.add(name)
    return order


_ACT: dict[str, Callable] = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "softplus": lambda x: jnp.logaddexp(x, 0.0),
    "relu": lambda x: jnp.where(x > 0, x, 0.0),
    "identity": lambda x: x,
}


def loss_fn(spec: dict[str, Any], n: int, matmul_min_size: int) -> Callable:
    """``E(params, x, y)`` for the spec (params a dict ``NAME.PARAM -> array``)."""
    order = _order(spec)

    def E(params, x, y):
        v = {INPUT: x}
        for node in order:
            name, op = node["name"], node["op"]
            xs = [v[p] for p in node["inputs"]]
            if op == "dense":
                out = xs[0] @ params[f"{name}.W"] + params[f"{name}.b"]
            elif op in ("gaussian", "gaussian_logits"):
                c, r = params[f"{name}.centroids"], params[f"{name}.radii"]
                r2 = (r * r)[:, None] * jnp.ones_like(c) if r.ndim == 1 else r * r
                if n * c.size >= matmul_min_size:
                    x0 = xs[0]
                    z = x0 @ (r2 * c).T - 0.5 * ((x0 * x0) @ r2.T + (r2 * c * c).sum(1))
                else:
                    z = -0.5 * (r2[None] * (xs[0][:, None, :] - c[None]) ** 2).sum(2)
                out = z if op == "gaussian_logits" else jnp.exp(z)
            elif op == "add":
                out = xs[0]
                for t in xs[1:]:
                    out = out + t
            elif op == "concat":
                out = jnp.concatenate(xs, axis=1)
            else:
                out = _ACT[op](xs[0])
            v[name] = out
        yhat = v[spec["output"]]
        if spec["loss"] == "mse":
            return ((yhat - y) ** 2).sum() / (2 * n)
        return -(y * jax.nn.log_softmax(yhat, axis=1)).sum() / n

    return E


def step_fn(spec: dict[str, Any], n: int, lr: float, beta: float, matmul_min_size: int):
    """A fresh jitted ``step(params, buf, x, y) -> (E, params, buf)``."""
    E = loss_fn(spec, n, matmul_min_size)
    vg = jax.value_and_grad(E)

    def step(params, buf, x, y):
        e, g = vg(params, x, y)
        buf = jax.tree.map(lambda b, gi: beta * b + gi, buf, g)
        params = jax.tree.map(lambda p, b: p - lr * b, params, buf)
        return e, params, buf

    return jax.jit(step)


class JaxRun:
    """One net, data and momentum SGD in JAX; ``run(S)`` does S + 1 jitted steps."""

    def __init__(self, spec, params, x, y, lr: float, momentum: float, matmul_min_size: int):
        self.args = (spec, len(x), lr, momentum, matmul_min_size)
        self.params0 = {k: jnp.asarray(np.asarray(v, dtype=np.float64)) for k, v in params.items()}
        self.x, self.y = jnp.asarray(x), jnp.asarray(y)
        self.step = step_fn(*self.args)

    def fresh(self):
        return self.params0, jax.tree.map(jnp.zeros_like, self.params0)

    def run(self, steps: int) -> list[float]:
        params, buf = self.fresh()
        losses = []
        for _ in range(steps + 1):
            e, params, buf = self.step(params, buf, self.x, self.y)
            losses.append(e)
        jax.block_until_ready(params)
        return [float(e) for e in losses]

    def compile_seconds(self) -> float:
        """Trace, lower and compile a newly created jitted step (what each new net costs)."""
        step = step_fn(*self.args)
        params, buf = self.fresh()
        t0 = time.perf_counter()
        step.lower(params, buf, self.x, self.y).compile()
        return time.perf_counter() - t0
