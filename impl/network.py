"""A DAG network built from a spec: forward, backward, loss and gradient, in float64 numpy.

Backprop follows the tutorial's two kinds of derivatives: each layer's backward returns dE/d(its
inputs), which is passed back and *summed* over every consumer of a node (a node feeding several
later nodes, the skip connections, accumulates all contributions), and dE/d(its parameters), which
is kept as the gradient. Everything is vectorised over the batch.

Evaluation follows a schedule fixed when the network is built: node values live in a list indexed
by slot (slot 0 the input, slot i + 1 the i-th layer in topological order), each layer reads its
input slots by integer index, and backward frees every cache and gradient as soon as it is used.
A node's gradient is the sum of its consumers' contributions, added in reverse topological order
(in place once the network owns the sum). Layers that read only the network input skip their
input gradient, which nobody needs.

For the trainer the parameters can also live in one flat float64 vector (``layout``: each
``NAME.PARAM`` a contiguous slice in ``param_names`` order); :meth:`Network.unflatten` gives the
dict of views a flat vector holds, :meth:`Network.flatten` the converse.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .backend import as_float64, host_array, namespace
from .errors import DataError, ParamsError, params_mapping
from .losses import LOSSES, target_form
from .ops import Layer, factory
from .ops.base import same_kind
from .spec import INPUT, Spec, load_spec
from .threads import one_blas_thread

Array = np.ndarray
Params = dict[str, Array]


class Network:
    """A network for one spec. Parameters live outside it, in a dict ``NAME.PARAM -> ndarray``."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.loss_fn = LOSSES[spec.loss]
        if hasattr(self.loss_fn, "prepare"):  # a plugin loss lambdifies its rules here, once
            self.loss_fn.prepare(spec.out_width)
        self.layers: list[Layer] = []
        for name in spec.order:
            node = spec.nodes[name]
            ins = tuple(node["inputs"])
            in_widths = tuple(spec.widths[p] for p in ins)
            self.layers.append(factory(node["op"])(name, ins, in_widths, node))
        self.param_shapes: dict[str, tuple[int, ...]] = {
            layer.keys[p]: shape for layer in self.layers for p, shape in layer.param_shapes.items()
        }
        # the schedule: each layer with the slots of its inputs (its own output is slot i + 1)
        # and its one input's slot (-1 for a merge): a one-item list is built without a loop
        slot = {INPUT: 0, **{layer.name: i + 1 for i, layer in enumerate(self.layers)}}
        self._schedule: tuple[tuple[Layer, tuple[int, ...], int], ...] = tuple(
            (layer, slots, slots[0] if len(slots) == 1 else -1)
            for layer in self.layers
            for slots in [tuple(slot[p] for p in layer.inputs)]
        )
        self._out_slot = slot[spec.output]
        for layer in self.layers:
            layer.input_grads = any(p != INPUT for p in layer.inputs)
        # the flat layout: NAME.PARAM -> (start, stop, shape) in one vector
        self.layout: dict[str, tuple[int, int, tuple[int, ...]]] = {}
        start = 0
        for k, shape in self.param_shapes.items():
            stop = start + int(np.prod(shape, dtype=np.int64))
            self.layout[k] = (start, stop, shape)
            start = stop
        self.size = start

    @classmethod
    def from_spec(cls, source: str | os.PathLike[str] | Mapping[str, Any] | Spec) -> Network:
        return cls(source if isinstance(source, Spec) else load_spec(source))

    @property
    def param_names(self) -> list[str]:
        return list(self.param_shapes)

    @property
    def n_params(self) -> int:
        return self.size

    def flatten(self, params: Mapping[str, Array]) -> Array:
        """The parameters as one vector in ``layout`` order (a copy, on the arrays' backend)."""
        if not self.param_shapes:
            return np.zeros(0)
        xp = namespace(params[next(iter(self.param_shapes))])
        return xp.concatenate([xp.asarray(params[k]).reshape(-1) for k in self.param_shapes])

    def unflatten(self, w: Array) -> Params:
        """The dict ``NAME.PARAM -> array`` of views into the flat vector ``w``."""
        return {k: w[a:b].reshape(shape) for k, (a, b, shape) in self.layout.items()}

    # ---- parameters -------------------------------------------------------------------------

    def init(self, seed: int = 0, x: Array | None = None) -> Params:
        """Initial parameters from ``numpy.random.default_rng(seed)``, layer by layer in
        topological order (dense: Glorot uniform; distance layers: see ``ops.gaussian``). With data
        ``x``, distance layers take their centroids and radii from their inputs on that data (the
        same bits on every core count)."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ParamsError(f"the init seed must be a non-negative integer, got {seed!r}")
        rng = np.random.default_rng(seed)
        params: Params = {}
        values: dict[str, Array] | None = None
        if x is not None:
            values = {INPUT: self.check_inputs(x)}
        # data of 1e200 overflows here (the trainer names non-finite parameters, not numpy); one
        # BLAS thread: a distance layer's centroids come from the layers before it on the data,
        # whose products round by the thread count (impl.threads)
        with one_blas_thread(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for layer in self.layers:
                xs = [values[p] for p in layer.inputs] if values is not None else None
                for p, v in layer.init(rng, xs).items():
                    params[layer.keys[p]] = np.asarray(v, dtype=np.float64)
                if values is not None:
                    values[layer.name] = layer.forward(params, xs)[0]
        return params

    def check_params(self, params: Mapping[str, Array]) -> Params:
        """Validate a params dict against the spec; return float64 numpy arrays (device arrays
        are checked on the host, as are data in ``check_inputs`` and ``check_targets``)."""
        params_mapping(params)
        missing = [k for k in self.param_shapes if k not in params]
        if missing:
            raise ParamsError(f"parameter {missing[0]!r} is missing")
        extra = [k for k in params if k not in self.param_shapes]
        if extra:
            raise ParamsError(f"unexpected parameter {extra[0]!r} (not in the spec)")
        out: Params = {}
        for k, shape in self.param_shapes.items():
            v = host_array(params[k], ParamsError, f"parameter {k!r} is")  # whatever the backend
            if v.dtype.kind not in "fiu":
                raise ParamsError(f"parameter {k!r} has dtype {v.dtype}, expected float64")
            if v.shape != shape:
                raise ParamsError(f"parameter {k!r} has shape {v.shape}, expected {shape}")
            if not np.isfinite(v).all():
                raise ParamsError(f"parameter {k!r} contains NaN or inf")
            out[k] = as_float64(v, ParamsError, f"parameter {k!r} is")
        return out

    # ---- data -------------------------------------------------------------------------------

    def check_inputs(self, x: Array) -> Array:
        x = host_array(x, DataError, "inputs x are")
        if x.ndim != 2 or x.shape[1] != self.spec.inputs:
            raise DataError(f"inputs x have shape {x.shape}, expected (n, {self.spec.inputs})")
        if x.dtype.kind not in "fiu":
            raise DataError(f"inputs x have dtype {x.dtype}, expected real numbers")
        x = as_float64(x, DataError, "inputs x are")
        bad = ~np.isfinite(x)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise DataError(f"inputs x contain NaN or inf (row {row})")
        if len(x) == 0:
            raise DataError("the data set is empty")
        return x

    def check_targets(self, y: Array, n: int) -> Array:
        """Targets as float64 (n, out): one-hot for integer labels, as the loss expects.

        Every loss takes (n, out) rows as given (for ``softmax_cross_entropy`` one-hot or any
        distribution). Targets of shape (n,) are read as the loss declares (its ``targets``,
        ``impl.losses.target_form``): integer labels in [0, out), one-hot encoded, for a
        ``"labels"`` loss (``softmax_cross_entropy``; a plugin loss by default) and for any loss
        when out > 1; the numbers of the one output for a ``"values"`` loss (``mse``; a plugin
        declaring ``targets="values"``) when out = 1. Other (n,) targets are refused: floats
        where labels are due (whole ones with a hint to convert them)."""
        y = host_array(y, DataError, "targets y are")
        m = self.spec.out_width
        if y.ndim == 0:
            raise DataError(f"targets y are one number, expected ({n}, {m}) rows or labels ({n},)")
        if len(y) != n:
            raise DataError(f"targets y have {len(y)} rows but inputs x have {n}")
        if y.dtype.kind not in "fiub":
            raise DataError(f"targets y have dtype {y.dtype}, expected real numbers")
        # impl.losses.flat_targets_are_labels's rule, written out here: the teeth tests
        # (tests/test_properties_teeth.py) plant the mutation run's mutants in this line's text
        if y.ndim == 1 and (y.dtype.kind in "iub" and (m > 1 or self._labels_loss)):
            labels = y  # checked in its own dtype: uint64 labels >= 2^63 wrap in int64
            if labels.min(initial=0) < 0 or labels.max(initial=0) >= m:
                raise DataError(
                    f"integer labels must lie in [0, {m}) for output width {m}, got "
                    f"[{labels.min()}, {labels.max()}]"
                )
            return np.eye(m)[labels.astype(np.int64)]
        if y.ndim == 1 and m == 1 and not self._labels_loss:  # one output's numbers
            y = y[:, None]
        if y.ndim == 1 and y.dtype.kind == "f":
            # whole floats (0.0, 1.0, ...) are labels stored as floats: say how to pass them
            whole = bool(np.all(np.isfinite(y)) and np.all(y == np.round(y)))
            raise DataError(
                f"targets y are {n} floats, shape ({n},), but loss "
                f"{self.spec.loss!r} at output width {m} takes integer labels ({n},) or rows "
                f"({n}, {m})"
                + (": they are whole numbers, so y.astype(int) gives the labels" if whole else "")
                + (" (a regression loss plugin declares targets='values')" if m == 1 else "")
            )
        if y.ndim != 2 or y.shape[1] != m:
            raise DataError(f"targets y have shape {y.shape}, expected ({n}, {m}) or labels ({n},)")
        y = as_float64(y, DataError, "targets y are")
        bad = ~np.isfinite(y)
        if bad.any():
            raise DataError(f"targets y contain NaN or inf (row {int(np.argwhere(bad)[0][0])})")
        if self.spec.loss == "softmax_cross_entropy" and (y < 0).any():
            # -sum_k y_k log p_k with a negative weight rewards a wrong class without bound: the
            # loss then falls forever (a held-out audit trained to -4834)
            row = int(np.argwhere(y < 0)[0][0])
            raise DataError(
                f"targets y for softmax_cross_entropy must be >= 0 (one-hot rows or a "
                f"distribution's weights), row {row} is {y[row].tolist()}"
            )
        return y

    @property
    def _labels_loss(self) -> bool:
        """The loss reads targets of shape (n,) as labels at every output width (its declared
        ``targets`` is ``"labels"``; ``"values"`` reads them as numbers at width 1)."""
        return target_form(self.spec.loss) == "labels"

    def check_data(self, x: Array, y: Array) -> tuple[Array, Array]:
        x = self.check_inputs(x)
        return x, self.check_targets(y, len(x))

    # ---- evaluation -------------------------------------------------------------------------

    def forward(
        self,
        params: Mapping[str, Array],
        x: Array,
        visit: Callable[[Layer, list[Any]], Any] | None = None,
    ) -> Array:
        """The network output for inputs ``x`` (n, inputs).

        ``visit(layer, xs)``, when given, sees each layer's input values before the layer runs
        and may return a value to stand for the layer's output (None: the layer's own forward
        runs). The relu claim reads relu inputs and fixes relu branches through it
        (:mod:`descentcheck.properties.claims.relu_gradients`)."""
        values: list[Any] = [x]
        for layer, slots, _ in self._schedule:
            xs = [values[s] for s in slots]
            out = None if visit is None else visit(layer, xs)
            values.append(layer.forward(params, xs)[0] if out is None else out)
        return values[self._out_slot]

    def loss(self, params: Mapping[str, Array], x: Array, y: Array) -> float | complex:
        """E(w) on (x, y); ``y`` already in the form :meth:`check_targets` returns (complex for
        complex parameters: the complex step)."""
        return self.loss_fn(self.forward(params, x), y)

    def loss_and_grad(
        self,
        params: Mapping[str, Array],
        x: Array,
        y: Array,
        out: Mapping[str, Array] | None = None,
    ) -> tuple[float | complex, Params]:
        """E(w) and dE/dw for every parameter, by backprop through the DAG.

        Unchecked (it is the trainer's per-step path): ``x``, ``y`` as :meth:`check_data` and
        ``params`` as :meth:`check_params` return them; anything else meets numpy's errors.

        ``out``: real float64 arrays keyed like ``params`` (the trainer's views of its flat
        gradient vector); the layers that can (``Layer.writes_grads``) write their gradients
        there, with the same bits, and the dict returned holds those arrays."""
        values: list[Any] = [x]
        caches: list[Any] = []
        for layer, slots, only in self._schedule:
            xs = [values[only]] if only >= 0 else [values[s] for s in slots]
            value, cache = layer.forward(params, xs)
            values.append(value)
            caches.append(cache)
        yhat = values[self._out_slot]
        if y.shape != yhat.shape:  # labels: one-hot rows, on the outputs' backend
            y = namespace(yhat).asarray(self.check_targets(y, len(x)))
        E, g_out = self.loss_fn.value_and_grad(yhat, y)
        del values, yhat
        # gy[s]: dE/d(value of slot s), summed over the consumers seen so far; owned[s]: the sum
        # is an array of ours (not a consumer's output or a view of one), so it may grow in place
        gy: list[Any] = [None] * (len(self._schedule) + 1)
        owned = [False] * len(gy)
        gy[self._out_slot] = g_out
        grads: Params = dict.fromkeys(self.param_shapes)  # each key in its place: no reordering
        schedule = self._schedule
        for i in range(len(schedule) - 1, -1, -1):
            layer, slots, _ = schedule[i]
            g = gy[i + 1]
            gy[i + 1] = None
            cache = caches.pop()  # layer i's, freed once its backward returns
            if out is not None and layer.writes_grads:
                gxs, gparams = layer.backward(params, cache, g, out=out)
            else:
                gxs, gparams = layer.backward(params, cache, g)
            del cache
            keys = layer.keys
            for p, gp in gparams.items():
                grads[keys[p]] = gp
            for s, gx in zip(slots, gxs):
                if s == 0:
                    continue
                acc = gy[s]
                if acc is None:
                    gy[s] = gx
                elif owned[s] and same_kind(acc, gx):
                    acc += gx
                else:
                    gy[s] = acc + gx
                    owned[s] = True
        # complex parameters are allowed so a complex step through backward gives exact
        # Hessian-vector products
        # a plugin loss may hand back a Python scalar: numpy's type rules give its kind too
        dtype = E.dtype if hasattr(E, "dtype") else np.result_type(E)
        value = E if dtype.kind == "c" else float(E)
        return value, grads
