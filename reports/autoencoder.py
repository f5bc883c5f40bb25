"""The convergence paper's experiment: an autoencoder with skip connections (a DAG) against a
sequential autoencoder of the same size, compressing scikit-learn's digits.

Agarwal, Klobusicky & Schonfeld (2021, arXiv 1705.07404) report that a DAG autoencoder compresses
better than a sequential one. Both networks here map the 64 pixels (scaled to [0, 1]) through a
code of ``CODE`` units and back, tanh hidden units, identity output, mse loss; the inputs and
targets are centred by the training set's mean image (errors stay in pixel units):

* sequential: ``x -> dense h -> tanh -> dense CODE -> tanh (code) -> dense h -> tanh -> dense 64``
* skip (DAG): the same chain with two skips that do *not* bypass the code: the code layer also
  reads the input (``concat(a1, x)``) and the output layer also reads the code
  (``concat(a3, code)``).

The skip net's hidden width is chosen so that its parameter count is as close as possible to the
sequential one's (the counts are reported). Both train full batch with the paper's algorithm,
adaptive momentum (lr = 1/L_0 per network, tau = 0.8 tau_max(lr, L_0), inside the derived
region), and with RMSProp (lr = 0.003, the same for both), from several seeds (initialisation and
train/test split). Metrics on the held-out digits: mean squared error per pixel, PSNR =
10 log10(1 / MSE) (pixels in [0, 1]), mean absolute error, and the training curves.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .profiles import ReportProfile
from .progress import Progress

if TYPE_CHECKING:
    from descentcheck.impl.network import Network

CODE = 8
SEQ_HIDDEN = 32
OPTIMIZERS = ("adaptive_momentum", "rmsprop")
RMSPROP_LR = 0.003


def sequential_spec(h: int, code: int = CODE) -> dict[str, Any]:
    return {
        "inputs": 64,
        "output": "out",
        "loss": "mse",
        "nodes": [
            {"name": "e1", "op": "dense", "units": h, "inputs": ["input"]},
            {"name": "a1", "op": "tanh", "inputs": ["e1"]},
            {"name": "e2", "op": "dense", "units": code, "inputs": ["a1"]},
            {"name": "code", "op": "tanh", "inputs": ["e2"]},
            {"name": "d1", "op": "dense", "units": h, "inputs": ["code"]},
            {"name": "a3", "op": "tanh", "inputs": ["d1"]},
            {"name": "out", "op": "dense", "units": 64, "inputs": ["a3"]},
        ],
    }


def skip_spec(h: int, code: int = CODE) -> dict[str, Any]:
    return {
        "inputs": 64,
        "output": "out",
        "loss": "mse",
        "nodes": [
            {"name": "e1", "op": "dense", "units": h, "inputs": ["input"]},
            {"name": "a1", "op": "tanh", "inputs": ["e1"]},
            {"name": "enc", "op": "concat", "inputs": ["a1", "input"]},
            {"name": "e2", "op": "dense", "units": code, "inputs": ["enc"]},
            {"name": "code", "op": "tanh", "inputs": ["e2"]},
            {"name": "d1", "op": "dense", "units": h, "inputs": ["code"]},
            {"name": "a3", "op": "tanh", "inputs": ["d1"]},
            {"name": "dec", "op": "concat", "inputs": ["a3", "code"]},
            {"name": "out", "op": "dense", "units": 64, "inputs": ["dec"]},
        ],
    }


def n_params(spec: dict[str, Any]) -> int:
    from descentcheck.impl.network import Network

    return Network.from_spec(spec).n_params


def matched_widths(seq_hidden: int = SEQ_HIDDEN) -> tuple[int, int]:
    """(sequential width, skip width) with the closest parameter counts."""
    target = n_params(sequential_spec(seq_hidden))
    best = min(range(1, seq_hidden + 1), key=lambda h: abs(n_params(skip_spec(h)) - target))
    return seq_hidden, best


def digits_pixels() -> np.ndarray:
    """scikit-learn's 1797 digits as rows of 64 pixels scaled from 0..16 to [0, 1]."""
    from sklearn.datasets import load_digits

    return load_digits().data.astype(np.float64) / 16.0


def split(n: int, n_train: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng([seed, 201]).permutation(n)
    return perm[:n_train], perm[n_train : n_train + n_test]


def metrics(net: Any, params: dict[str, np.ndarray], x: np.ndarray) -> dict[str, float]:
    """Reconstruction error of ``x`` (centred pixels; the errors are those of pixels in [0, 1])."""
    r = np.clip(net.forward(params, x), -1e6, 1e6)
    mse = float(np.mean((r - x) ** 2))
    return {
        "mse": mse,
        "psnr": 10 * math.log10(1.0 / mse) if mse > 0 else math.inf,
        "mae": float(np.mean(np.abs(r - x))),
    }


def metrics_of_mean(x_te: np.ndarray) -> float:
    """PSNR of predicting the training mean image for every test digit (the zero code)."""
    mse = float(np.mean(x_te**2))
    return 10 * math.log10(1.0 / mse)


def train_one(
    spec: dict[str, Any],
    optimizer: str,
    x_tr: np.ndarray,
    x_te: np.ndarray,
    seed: int,
    steps: int,
) -> tuple[dict[str, Any], tuple[Network, dict[str, np.ndarray]]]:
    from descentcheck.impl.network import Network
    from descentcheck.impl.trainer import train
    from descentcheck.theory.descent import max_tau

    from .smoothness import estimate_L

    net = Network.from_spec(spec)
    params = net.init(seed=seed, x=x_tr)
    if optimizer == "adaptive_momentum":
        L0 = estimate_L(net, params, x_tr, x_tr, iters=20)
        lr = 1.0 / L0
        hp: dict[str, Any] = {"lr": lr, "tau": 0.8 * max_tau(lr, L0)}
    else:
        L0 = math.nan
        hp = {"lr": RMSPROP_LR, "rho": 0.99}
    traj = train(net, params, x_tr, x_tr, optimizer=optimizer, steps=steps, **hp)
    final = traj.params
    return {
        "hyperparameters": hp,
        "L0": L0,
        "status": traj.status,
        "curve": [float(v) for v in traj.losses],
        "train": metrics(net, final, x_tr),
        "test": metrics(net, final, x_te),
    }, (net, final)


def run(profile: ReportProfile, seed: int, progress: Progress) -> dict[str, Any]:
    progress.stage("autoencoders on digits")
    pixels = digits_pixels()
    h_seq, h_skip = matched_widths()
    specs = {"sequential": sequential_spec(h_seq), "skip": skip_spec(h_skip)}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        arch: {opt: [] for opt in OPTIMIZERS} for arch in specs
    }
    examples: dict[str, Any] = {}
    baseline: list[float] = []
    for s in range(profile.ae_seeds):
        tr, te = split(len(pixels), profile.ae_train, profile.ae_test, seed + s)
        mean = pixels[tr].mean(axis=0)
        x_tr, x_te = pixels[tr] - mean, pixels[te] - mean
        baseline.append(metrics_of_mean(x_te))
        for arch, spec in specs.items():
            for opt in OPTIMIZERS:
                record, (net, final) = train_one(spec, opt, x_tr, x_te, seed + s, profile.ae_steps)
                runs[arch][opt].append(record)
                if s == 0 and opt == OPTIMIZERS[0]:
                    # reconstructions of the first test digits, for the figure
                    examples[arch] = (net.forward(final, x_te[:8]) + mean).tolist()
                progress.tick()
        if s == 0:
            examples["original"] = (x_te[:8] + mean).tolist()

    return {
        "code_units": CODE,
        "hidden": {"sequential": h_seq, "skip": h_skip},
        "params": {arch: n_params(spec) for arch, spec in specs.items()},
        "specs": specs,
        "seeds": profile.ae_seeds,
        "n_train": profile.ae_train,
        "n_test": profile.ae_test,
        "steps": profile.ae_steps,
        "runs": runs,
        "mean_image_psnr": baseline,
        "examples": examples,
    }


def units(profile: ReportProfile) -> int:
    return profile.ae_seeds * 2 * len(OPTIMIZERS)
