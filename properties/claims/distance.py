"""Distance networks train better with RMSProp (expected to hold; a statistical statement).

Kurbiel & Khaleghian (2017, arXiv:1708.01911): in deep networks of Gaussian distance units,
plain SGD and momentum barely train, RMSProp does. Checked here as a paired experiment over
seeds, not as a Hypothesis property: a claim about typical behaviour needs a distribution of runs
and a test, not a search for the worst case.

Protocol (numbers in the ledger):

- data: the built-in ``wine`` set (178 samples, 13 standardised inputs, 3 classes);
- network: ``DEPTH`` gaussian layers of ``WIDTH`` units (per-connection radii) and a
  gaussian_logits head with softmax cross-entropy; ``net.init(seed, x)`` (centroids on data rows);
- optimizers: minibatch SGD (``gd`` with batches of 16), momentum (beta = 0.9) and RMSProp
  (rho = 0.99, eps = 1e-8), each for K steps with minibatch order ``shuffle_seed = seed``;
- learning rates: for each optimizer the lr of ``LR_GRID`` with the lowest median final loss on
  ``TUNING_SEEDS`` (disjoint from the evaluation seeds), so no optimizer is handicapped by its lr;
- test: on evaluation seeds ``distance_seed0``..+N-1 (the profile's), paired final full-batch
  losses; one-sided exact
  sign test of "RMSProp's final loss is lower" against each of SGD and momentum (ties count
  against RMSProp).
  The claim holds when both p-values are below ``ALPHA``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from descentcheck.impl.network import Network
from descentcheck.impl.trainer import train

from ..claim import Claim
from ..profiles import PROFILES, Profile

DATA = "wine"
DEPTH = 4
WIDTH = 8
BATCH = 16
# quarter decades from 1e-3 to 1 (rounded to 2 digits): a held-out review found the former
# half-decade grid (0.003 ... 0.3) handicapped momentum, whose best rate, 0.05, lay between two
# points, and SGD, whose best was the grid's top
LR_GRID = (0.001, 0.0018, 0.0032, 0.0056, 0.01, 0.018, 0.032, 0.056, 0.1, 0.18, 0.32, 0.56, 1.0)
TUNING_SEEDS = (1001, 1002, 1003, 1004)
ALPHA = 0.01
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "sgd": {"optimizer": "gd"},
    "momentum": {"optimizer": "momentum", "momentum": 0.9},
    "rmsprop": {"optimizer": "rmsprop", "rho": 0.99, "eps": 1e-8},
}


def distance_spec(inputs: int, classes: int, depth: int = DEPTH, width: int = WIDTH) -> dict:
    """A chain of ``depth`` gaussian layers and a gaussian_logits head."""
    nodes, prev = [], "input"
    for i in range(depth):
        nodes.append(
            {
                "name": f"g{i}",
                "op": "gaussian",
                "units": width,
                "radius": "per_connection",
                "inputs": [prev],
            }
        )
        prev = f"g{i}"
    nodes.append(
        {
            "name": "out",
            "op": "gaussian_logits",
            "units": classes,
            "radius": "per_connection",
            "inputs": [prev],
        }
    )
    return {"inputs": inputs, "output": "out", "loss": "softmax_cross_entropy", "nodes": nodes}


def sign_test_p(wins: int, n: int) -> float:
    """One-sided exact sign test: P(X >= wins) for X ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, j) for j in range(wins, n + 1)) / 2.0**n


def wilson_interval(wins: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The 95% Wilson score interval of a win rate ``wins / n`` (beside the p-value: how large
    the advantage is, not only whether it is there)."""
    if n == 0:
        return 0.0, 1.0
    phat = wins / n
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _final_loss(
    net: Network, x: np.ndarray, y: np.ndarray, name: str, lr: float, seed: int, steps: int
) -> float:
    with np.errstate(all="ignore"):
        traj = train(
            net,
            net.init(seed=seed, x=x),
            x,
            y,
            lr=lr,
            steps=steps,
            batch_size=BATCH,
            seed=seed,
            **OPTIMIZERS[name],
        )
    v = float(traj.losses[-1])
    return v if math.isfinite(v) else math.inf


def experiment(profile: Profile) -> dict[str, Any]:
    from descentcheck.impl.data import load_data

    ds = load_data(DATA)
    net = Network.from_spec(distance_spec(ds.inputs, ds.outputs))
    x, y = net.check_data(ds.x, ds.y)
    K = profile.distance_steps
    lrs: dict[str, float] = {}
    for name in OPTIMIZERS:
        medians = {
            lr: float(np.median([_final_loss(net, x, y, name, lr, s, K) for s in TUNING_SEEDS]))
            for lr in LR_GRID
        }
        lrs[name] = min(medians, key=medians.__getitem__)
    seeds = range(profile.distance_seed0, profile.distance_seed0 + profile.distance_seeds)
    finals = {
        name: np.array([_final_loss(net, x, y, name, lrs[name], s, K) for s in seeds])
        for name in OPTIMIZERS
    }
    n = len(seeds)
    measured: dict[str, Any] = {
        "seeds": n,
        "steps": K,
        **{f"lr_{name}": lrs[name] for name in OPTIMIZERS},
        **{f"median_final_loss_{name}": float(np.median(v)) for name, v in finals.items()},
    }
    ok = True
    for other in ("sgd", "momentum"):
        wins = int(np.sum(finals["rmsprop"] < finals[other]))
        p = sign_test_p(wins, n)
        low, high = wilson_interval(wins, n)
        measured[f"rmsprop_wins_vs_{other}"] = wins
        measured[f"win_rate_vs_{other}_ci95_low"] = low
        measured[f"win_rate_vs_{other}_ci95_high"] = high
        measured[f"sign_test_p_vs_{other}"] = p
        ok = ok and p < ALPHA
    return {
        "outcome": "held" if ok else "falsified",
        "examples": n * len(OPTIMIZERS),  # training runs compared (seeds x optimizers)
        "measured": measured,
        "theory": {"alpha": ALPHA},
        "message": "" if ok else "RMSProp's advantage is not significant at this budget",
        "final_losses": {name: v.tolist() for name, v in finals.items()},
    }


DISTANCE_RMSPROP = Claim(
    id="distance-nets-rmsprop-beats-sgd-and-momentum",
    statement=(
        f"On {DATA!r}, deep distance networks ({DEPTH} gaussian layers of width {WIDTH}) "
        "trained by RMSProp reach a lower final full-batch training loss after K minibatch "
        "steps than by SGD and than by momentum, each at its best learning rate: paired over "
        f"seeds, one-sided sign test p < {ALPHA} against each, ties counted against RMSProp "
        "(a narrower proxy for the "
        "paper's 'SGD and momentum barely train': here all three reach small training losses, "
        "and the claim is which gets lower; the report's distance section compares held-out "
        "accuracy on digits)"
    ),
    source=(
        "Kurbiel & Khaleghian, 'Training of deep neural networks based on distance measures "
        "using RMSProp', arXiv:1708.01911 (2017), experiments"
    ),
    conditions=(
        f"data {DATA!r} (built-in, standardised); {DEPTH} x gaussian({WIDTH}, per_connection) "
        "+ gaussian_logits head, softmax cross-entropy; init net.init(seed, x)",
        f"minibatches of {BATCH}, shuffle seed = init seed; K = the profile's distance_steps",
        f"lr per optimizer: best median final loss over {LR_GRID} on tuning seeds "
        f"{TUNING_SEEDS}; momentum beta = 0.9; RMSProp rho = 0.99, eps = 1e-8",
        f"evaluation seeds from the profile's distance_seed0 ({PROFILES['ci'].distance_seed0} "
        f"in fast and ci, {PROFILES['thorough'].distance_seed0} in thorough: disjoint from "
        "each other, the tuning seeds and the pilot's), N = its distance_seeds (80 in fast "
        "and ci: power 0.91 at a 70% win rate, from a pilot on seeds 0-29: 21 of 30 wins "
        "against momentum, p = 0.02), enumerated rather than drawn by Hypothesis: a statement "
        "about the distribution of runs; the win rates are measured with their 95% Wilson "
        "intervals",
    ),
    expect="holds",
    experiment=experiment,
    # the longest claim since its ci run went to 80 seeds of 300 steps: 103-104 s CPU there on
    # machine C (2026-12-07), weight-path-bounded's 68-70 s; started first
    cost=7.0,
)

CLAIMS = (DISTANCE_RMSPROP,)
