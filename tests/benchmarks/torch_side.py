"""PyTorch eager float64 training loops for the benchmarks (torch.optim, autograd).

The forward pass is ``tests/torch_reference.py``'s (written from DESIGN.md's formulas, not from
descentcheck), with the spec's order and node closures computed once, as a torch user would build
a module. Distance layers take torch_reference's direct form ``((x - c) * r)^2`` summed over
inputs below descentcheck's matmul size and the expanded matrix-product form above it
(``(x*x) @ (r*r).T - 2 x @ (r*r*c).T + sum(r*r*c*c)``), so both sides run the same algorithm on
the large net. A run of S steps does what descentcheck's trainer does: S + 1 forward and backward
passes (E(w_K) and its gradient are recorded too) and S optimizer steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch_reference as ref

Tensor = torch.Tensor


def _expanded_gaussian(node: dict[str, Any], x: Tensor, params: dict[str, Tensor]) -> Tensor:
    name = node["name"]
    c = params[f"{name}.centroids"]
    r = params[f"{name}.radii"]
    r2 = (r * r)[:, None].expand_as(c) if r.dim() == 1 else r * r
    q = (x * x) @ r2.T
    p = x @ (r2 * c).T
    s = (r2 * c * c).sum(dim=1)
    z = p - 0.5 * (q + s)
    return z if node["op"] == "gaussian_logits" else torch.exp(z)


class TorchRun:
    """One net, its data and a ``torch.optim.SGD(lr, momentum)``, ready to run steps."""

    def __init__(self, spec, params, x, y, lr: float, momentum: float, matmul_min_size: int):
        self.spec = spec
        self.tp = ref.to_torch(params)
        self.x = torch.from_numpy(np.ascontiguousarray(x))
        self.y = torch.from_numpy(np.ascontiguousarray(y))
        self.opt = torch.optim.SGD(list(self.tp.values()), lr=lr, momentum=momentum)
        nodes = {n["name"]: n for n in spec["nodes"]}
        widths = ref.widths(spec)
        n = len(x)
        plan: list[tuple[str, tuple[str, ...], Callable[[list[Tensor]], Tensor]]] = []
        for name in ref.topological_order(spec):
            node = nodes[name]
            fn = self._node_fn(node, widths, n, matmul_min_size)
            plan.append((name, tuple(node["inputs"]), fn))
        self.plan = plan

    def _node_fn(self, node, widths, n, matmul_min_size):
        tp = self.tp
        if node["op"] in ("gaussian", "gaussian_logits"):
            size = n * node["units"] * widths[node["inputs"][0]]
            if size >= matmul_min_size:
                return lambda xs: _expanded_gaussian(node, xs[0], tp)
        return lambda xs: ref._node_value(node, xs, tp)

    def loss(self) -> Tensor:
        values = {ref.INPUT: self.x}
        for name, inputs, fn in self.plan:
            values[name] = fn([values[p] for p in inputs])
        return ref.loss(self.spec, values[self.spec["output"]], self.y)

    def run(self, steps: int) -> list[float]:
        """S steps as the trainer takes them; returns E(w_0) .. E(w_S)."""
        losses = []
        for k in range(steps + 1):
            self.opt.zero_grad(set_to_none=True)
            E = self.loss()
            E.backward()
            losses.append(E.item())
            if k < steps:
                self.opt.step()
        return losses
