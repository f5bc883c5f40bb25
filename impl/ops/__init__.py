"""The ops of architecture spec v1, by name: each a factory ``(name, inputs, in_widths, node)``."""

from .activations import ACTIVATIONS, make_activation, sigmoid, softplus
from .base import Layer
from .dense import make_dense
from .gaussian import make_gaussian, make_gaussian_logits
from .merges import make_add, make_concat

OPS = {
    "dense": make_dense,
    "gaussian": make_gaussian,
    "gaussian_logits": make_gaussian_logits,
    **{op: make_activation(op) for op in ACTIVATIONS},
    "add": make_add,
    "concat": make_concat,
}

PARAMETRIC = ("dense", "gaussian", "gaussian_logits")
ELEMENTWISE = tuple(ACTIVATIONS)
MERGES = ("add", "concat")

__all__ = ["ELEMENTWISE", "MERGES", "OPS", "PARAMETRIC", "Layer", "sigmoid", "softplus"]
