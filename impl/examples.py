"""Built-in example specs, usable wherever a spec path is (``descentcheck train digits_skip``).

* ``design``: the DESIGN.md example (dense, tanh, an add skip, a Gaussian layer, dense output).
* ``digits_skip``: a classifier for scikit-learn's digits (64 inputs, 10 classes) with an add
  skip over a tanh block and a concat skip from the input to the output layer.
* ``digits_distance``: a deep distance network for digits (Kurbiel & Khaleghian 2017): three
  Gaussian layers and a ``gaussian_logits`` output feeding softmax.
* ``sine_skip``: a small regression net for the ``sine`` data set with a distance layer.
"""

from __future__ import annotations

from typing import Any

EXAMPLES: dict[str, dict[str, Any]] = {
    "design": {
        "inputs": 3,
        "output": "out",
        "loss": "mse",
        "nodes": [
            {"name": "h1", "op": "dense", "units": 6, "inputs": ["input"]},
            {"name": "a1", "op": "tanh", "inputs": ["h1"]},
            {"name": "h2", "op": "dense", "units": 6, "inputs": ["a1"]},
            {"name": "s", "op": "add", "inputs": ["h2", "a1"]},
            {
                "name": "g",
                "op": "gaussian",
                "units": 4,
                "radius": "per_connection",
                "inputs": ["s"],
            },
            {"name": "out", "op": "dense", "units": 2, "inputs": ["g"]},
        ],
    },
    "digits_skip": {
        "inputs": 64,
        "output": "logits",
        "loss": "softmax_cross_entropy",
        "nodes": [
            {"name": "h1", "op": "dense", "units": 32, "inputs": ["input"]},
            {"name": "a1", "op": "tanh", "inputs": ["h1"]},
            {"name": "h2", "op": "dense", "units": 32, "inputs": ["a1"]},
            {"name": "a2", "op": "tanh", "inputs": ["h2"]},
            {"name": "skip", "op": "add", "inputs": ["a2", "a1"]},
            {"name": "features", "op": "concat", "inputs": ["skip", "input"]},
            {"name": "logits", "op": "dense", "units": 10, "inputs": ["features"]},
        ],
    },
    "digits_distance": {
        "inputs": 64,
        "output": "logits",
        "loss": "softmax_cross_entropy",
        "nodes": [
            {"name": "g1", "op": "gaussian", "units": 32, "inputs": ["input"]},
            {"name": "g2", "op": "gaussian", "units": 32, "inputs": ["g1"]},
            {"name": "g3", "op": "gaussian", "units": 32, "inputs": ["g2"]},
            {"name": "logits", "op": "gaussian_logits", "units": 10, "inputs": ["g3"]},
        ],
    },
    "sine_skip": {
        "inputs": 1,
        "output": "out",
        "loss": "mse",
        "nodes": [
            {"name": "h", "op": "dense", "units": 8, "inputs": ["input"]},
            {"name": "a", "op": "tanh", "inputs": ["h"]},
            {"name": "s", "op": "concat", "inputs": ["a", "input"]},
            {"name": "g", "op": "gaussian", "units": 6, "radius": "per_unit", "inputs": ["s"]},
            {"name": "ga", "op": "concat", "inputs": ["g", "a"]},
            {"name": "out", "op": "dense", "units": 1, "inputs": ["ga"]},
        ],
    },
}
