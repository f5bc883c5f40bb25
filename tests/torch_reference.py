"""An independent PyTorch float64 reference for spec-v1 networks, for the crosscheck tests.

Nothing here imports descentcheck: the spec dict is read directly (topological order and widths
computed here, not by ``impl/spec.py``), every op is written from DESIGN.md's formulas with torch
tensors, and gradients come from autograd. Training uses ``torch.optim`` where torch has the
optimizer and a direct transcription of the papers' formula for adaptive momentum, which torch
lacks. torch is a test-time dependency only; this module is imported by tests that first did
``pytest.importorskip("torch")``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch

INPUT = "input"
DTYPE = torch.float64


# ---- the spec ---------------------------------------------------------------------------------


def topological_order(spec: Mapping[str, Any]) -> list[str]:
    """Node names so that every node comes after its inputs (Kahn's algorithm, listing order
    breaks ties). Raises ValueError on a cycle or an unknown input."""
    nodes = {n["name"]: n for n in spec["nodes"]}
    pending = {name: {p for p in n["inputs"] if p != INPUT} for name, n in nodes.items()}
    for name, parents in pending.items():
        unknown = parents - nodes.keys()
        if unknown:
            raise ValueError(f"node {name!r} reads unknown node {sorted(unknown)[0]!r}")
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(nodes):
        ready = [n for n in nodes if n not in done and pending[n] <= done]
        if not ready:
            raise ValueError("the spec has a cycle")
        order.append(ready[0])
        done.add(ready[0])
    return order


def widths(spec: Mapping[str, Any]) -> dict[str, int]:
    """The output width of every node (and of ``input``)."""
    nodes = {n["name"]: n for n in spec["nodes"]}
    w = {INPUT: int(spec["inputs"])}
    for name in topological_order(spec):
        node = nodes[name]
        ins = [w[p] for p in node["inputs"]]
        op = node["op"]
        if op in ("dense", "gaussian", "gaussian_logits"):
            w[name] = int(node["units"])
        elif op == "concat":
            w[name] = sum(ins)
        else:  # elementwise and add keep the width
            w[name] = ins[0]
    return w


def param_shapes(spec: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """``NAME.PARAM -> shape`` as DESIGN.md fixes them."""
    w = widths(spec)
    shapes: dict[str, tuple[int, ...]] = {}
    for node in spec["nodes"]:
        name, op = node["name"], node["op"]
        d = w[node["inputs"][0]]
        if op == "dense":
            shapes[f"{name}.W"] = (d, node["units"])
            shapes[f"{name}.b"] = (node["units"],)
        elif op in ("gaussian", "gaussian_logits"):
            u = node["units"]
            shapes[f"{name}.centroids"] = (u, d)
            per_unit = node.get("radius", "per_connection") == "per_unit"
            shapes[f"{name}.radii"] = (u,) if per_unit else (u, d)
    return shapes


# ---- evaluation -------------------------------------------------------------------------------


def _softplus(x: torch.Tensor) -> torch.Tensor:
    # log(1 + e^x) without torch's threshold switch (F.softplus returns x itself above 20)
    return torch.logaddexp(x, torch.zeros_like(x))


_ELEMENTWISE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": _softplus,
    "relu": torch.relu,
    "identity": lambda x: x,
}


def _node_value(
    node: Mapping[str, Any], xs: list[torch.Tensor], params: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    name, op = node["name"], node["op"]
    if op == "dense":
        return xs[0] @ params[f"{name}.W"] + params[f"{name}.b"]
    if op in ("gaussian", "gaussian_logits"):
        c = params[f"{name}.centroids"]  # (units, in)
        r = params[f"{name}.radii"]  # (units, in) or (units,)
        if r.dim() == 1:
            r = r[:, None].expand_as(c)
        # sum_i r_ji^2 (x_ni - c_ji)^2 for every sample n and unit j
        sq = ((xs[0][:, None, :] - c[None, :, :]) * r[None, :, :]) ** 2
        z = -0.5 * sq.sum(dim=2)
        return z if op == "gaussian_logits" else torch.exp(z)
    if op in _ELEMENTWISE:
        (x,) = xs
        return _ELEMENTWISE[op](x)
    if op == "add":
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out
    if op == "concat":
        return torch.cat(xs, dim=1)
    raise ValueError(f"unknown op {op!r}")


def forward(
    spec: Mapping[str, Any], params: Mapping[str, torch.Tensor], x: torch.Tensor
) -> torch.Tensor:
    """The network output on inputs ``x`` (n, inputs)."""
    nodes = {n["name"]: n for n in spec["nodes"]}
    values = {INPUT: x}
    for name in topological_order(spec):
        node = nodes[name]
        values[name] = _node_value(node, [values[p] for p in node["inputs"]], params)
    return values[spec["output"]]


def loss(spec: Mapping[str, Any], yhat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    n = yhat.shape[0]
    if spec["loss"] == "mse":
        return ((yhat - y) ** 2).sum() / (2 * n)
    if spec["loss"] == "softmax_cross_entropy":
        return -(y * torch.log_softmax(yhat, dim=1)).sum() / n
    raise ValueError(f"unknown loss {spec['loss']!r}")


def to_torch(params: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Leaf float64 tensors with gradients, copied (the numpy arrays are never touched)."""
    return {
        k: torch.tensor(np.array(v, dtype=np.float64), dtype=DTYPE, requires_grad=True)
        for k, v in params.items()
    }


def to_numpy(params: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in params.items()}


def loss_and_grad(
    spec: Mapping[str, Any], params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """E(w) and dE/dw by autograd."""
    tp = to_torch(params)
    E = loss(spec, forward(spec, tp, torch.from_numpy(x)), torch.from_numpy(y))
    E.backward()
    return float(E.detach()), {k: v.grad.numpy().copy() for k, v in tp.items()}


# ---- initial parameters -----------------------------------------------------------------------


def init_params(spec: Mapping[str, Any], x: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Initial parameters drawn here (not by descentcheck): dense Glorot uniform with small random
    biases; distance layers get centroids near input rows on the data and radii that put the
    median of ``z_j`` near -1/2, jittered per connection so per-connection radii differ."""
    rng = np.random.default_rng(seed)
    nodes = {n["name"]: n for n in spec["nodes"]}
    shapes = param_shapes(spec)
    params: dict[str, np.ndarray] = {}
    values = {INPUT: torch.from_numpy(x)}
    for name in topological_order(spec):
        node = nodes[name]
        xs = [values[p] for p in node["inputs"]]
        op = node["op"]
        if op == "dense":
            fan_in, fan_out = shapes[f"{name}.W"]
            a = np.sqrt(6.0 / (fan_in + fan_out))
            params[f"{name}.W"] = rng.uniform(-a, a, size=(fan_in, fan_out))
            params[f"{name}.b"] = rng.uniform(-0.1, 0.1, size=fan_out)
        elif op in ("gaussian", "gaussian_logits"):
            inp = xs[0].numpy()
            units, d = shapes[f"{name}.centroids"]
            rows = rng.choice(len(inp), size=units, replace=False)
            c = inp[rows] + 0.1 * rng.standard_normal((units, d))
            sqdist = ((inp[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
            r_unit = 1.0 / np.sqrt(np.median(sqdist, axis=0))
            shape = shapes[f"{name}.radii"]
            if len(shape) == 1:
                r = r_unit * rng.uniform(0.8, 1.2, size=units)
            else:
                r = r_unit[:, None] * rng.uniform(0.8, 1.2, size=(units, d))
            params[f"{name}.centroids"] = c
            params[f"{name}.radii"] = r
        tp = {k: torch.from_numpy(v) for k, v in params.items()}
        values[name] = _node_value(node, xs, tp)
    return params


# ---- training ---------------------------------------------------------------------------------


class Run:
    """What a reference run measured, step by step: E(w_0..w_K) (full batch), the norm of the
    gradient each update used, and every iterate w_0..w_K."""

    def __init__(
        self,
        losses: list[float],
        grad_norms: list[float],
        history: list[dict[str, np.ndarray]],
    ):
        self.losses = np.asarray(losses, dtype=np.float64)
        self.grad_norms = np.asarray(grad_norms, dtype=np.float64)
        self.history = history
        self.params = history[-1]

    def as_candidate(self) -> dict[str, Any]:
        """The run in the mapping form ``descentcheck.testing.assert_trajectory_close`` reads."""
        return {"losses": self.losses, "grad_norms": self.grad_norms, "params": self.history}


def grad_norm(params: Mapping[str, torch.Tensor]) -> float:
    """The 2-norm of all the parameters' gradients together."""
    return float(torch.sqrt(sum((v.grad**2).sum() for v in params.values())))


def train_torch(
    spec: Mapping[str, Any],
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    make_optimizer: Callable[[list[torch.Tensor]], torch.optim.Optimizer],
    steps: int,
    batches: Iterable[np.ndarray] | None = None,
) -> Run:
    """``steps`` updates of a ``torch.optim`` optimizer; the recorded loss is the full-batch loss
    before each update and after the last. With ``batches`` (an iterator of row-index arrays)
    each update uses the gradient of the loss on that batch only."""
    tp = to_torch(params)
    opt = make_optimizer(list(tp.values()))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    it = iter(batches) if batches is not None else None
    losses: list[float] = []
    norms: list[float] = []
    history = [to_numpy(tp)]
    for k in range(steps + 1):
        opt.zero_grad(set_to_none=True)
        if it is None:
            E = loss(spec, forward(spec, tp, xt), yt)
            losses.append(float(E.detach()))
            if k == steps:
                break
            E.backward()
        else:
            with torch.no_grad():
                losses.append(float(loss(spec, forward(spec, tp, xt), yt)))
            if k == steps:
                break
            idx = torch.from_numpy(np.asarray(next(it)))
            loss(spec, forward(spec, tp, xt[idx]), yt[idx]).backward()
        norms.append(grad_norm(tp))
        opt.step()
        history.append(to_numpy(tp))
    return Run(losses, norms, history)


def train_adaptive_momentum(
    spec: Mapping[str, Any],
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    lr: float,
    tau: float,
    steps: int,
    group: str = "array",
) -> Run:
    """Adaptive momentum transcribed from the papers, full batch::

        dw_k = -lr g_k + alpha_k dw_{k-1},   alpha_k = tau ||g_k|| / ||dw_{k-1}||  (0 if dw_{k-1} = 0)

    with one alpha per group of parameters and norms over the group: ``"array"`` (each
    ``NAME.PARAM``), ``"node"`` (each spec node), ``"global"`` (all parameters), ``"unit"``
    (each unit j of a node: column j of a dense ``W`` with ``b[j]``, row j of any other array,
    e.g. a distance layer's centroids and radii; Wu et al.'s one weight vector per unit)."""

    def group_of(key: str) -> str:
        node = key.split(".")[0]  # "unit": the node's units, one coefficient each (see sq)
        return {"array": key, "node": node, "global": "*", "unit": node}[group]

    def unit_axis(key: str, v: torch.Tensor) -> int:
        return 1 if key.endswith(".W") and v.dim() == 2 else 0

    def sq(key: str, v: torch.Tensor) -> torch.Tensor:
        """The squared norm of v's part in each group: a scalar, or one per unit."""
        if group != "unit":
            return (v**2).sum()
        axis = unit_axis(key, v)
        others = [d for d in range(v.dim()) if d != axis]
        # torch sums over every dimension when given an empty list: a vector is its own per-unit
        return (v**2).sum(dim=others) if others else v**2

    def spread(key: str, v: torch.Tensor, a: torch.Tensor | float) -> torch.Tensor | float:
        """A group coefficient shaped to multiply v (one per unit along its unit axis)."""
        if group != "unit" or not isinstance(a, torch.Tensor):
            return a
        shape = [1] * v.dim()
        shape[unit_axis(key, v)] = -1
        return a.reshape(shape)

    tp = to_torch(params)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    dw = {k: torch.zeros_like(v, requires_grad=False) for k, v in tp.items()}
    losses: list[float] = []
    norms: list[float] = []
    history = [to_numpy(tp)]
    for k in range(steps + 1):
        for v in tp.values():
            v.grad = None
        E = loss(spec, forward(spec, tp, xt), yt)
        losses.append(float(E.detach()))
        if k == steps:
            break
        E.backward()
        norms.append(grad_norm(tp))
        with torch.no_grad():
            gsq: dict[str, torch.Tensor] = {}
            dsq: dict[str, torch.Tensor] = {}
            for name, v in tp.items():
                G = group_of(name)
                gsq[G] = gsq.get(G, 0.0) + sq(name, v.grad)
                dsq[G] = dsq.get(G, 0.0) + sq(name, dw[name])
            alpha = {
                G: torch.where(
                    dsq[G] > 0,
                    tau * torch.sqrt(gsq[G]) / torch.sqrt(torch.where(dsq[G] > 0, dsq[G], 1.0)),
                    0.0,
                )
                for G in gsq
            }
            for name, v in tp.items():
                dw[name] = -lr * v.grad + spread(name, v, alpha[group_of(name)]) * dw[name]
                v.add_(dw[name])
        history.append(to_numpy(tp))
    return Run(losses, norms, history)
