"""Counterexamples from the ledger: replay, the replay command, and the figure of each.

Each counterexample is written out with ``descentcheck.properties.write_replay`` (``spec.json``,
``data.npz``, ``params.npz``) under ``counterexamples/CLAIM/`` in the report folder, and replayed
in-process with ``descentcheck.properties.replay``: the report states whether the replay shows
the same two losses bit for bit. The figure shows the DAG, the loss curve with the rising step
marked, and the change of loss per step on a symmetric log scale (a rise of 1e-9 stays visible
beside falls of order 1). A skip-DAG counterexample (a metamorphic pair) also gets
:func:`pair_figure`: the sequential net beside the same net with the skip connection. The curve
runs a few steps past the stored run, drawn dashed, for context; the replay command reproduces
exactly the stored run.
"""

from __future__ import annotations

import contextlib
import io
import shlex
from pathlib import Path
from typing import Any

import numpy as np

from .dag import draw_dag, layout
from .plotting import DECREASE_COLOR, INCREASE_COLOR, pyplot, save

EXTRA_STEPS = 6


def replay_command(ce: dict[str, Any], claim_id: str) -> str:
    """The ``descentcheck train`` command, with paths relative to the report folder."""
    from descentcheck.properties import replay_args

    return shlex.join(replay_args(ce, Path("counterexamples") / claim_id))


def write_files(ce: dict[str, Any], directory: Path) -> None:
    """spec.json, data.npz and params.npz for the replay (write_replay's own print is muted)."""
    from descentcheck.properties import write_replay

    with contextlib.redirect_stdout(io.StringIO()):
        write_replay(ce, directory)


def replay(ce: dict[str, Any]) -> dict[str, Any]:
    """Replay exactly; then again with a few more steps for the figure."""
    from descentcheck.properties import replay as replay_ce

    k = int(ce["step"])
    with np.errstate(all="ignore"):
        exact = replay_ce(ce)
        longer = dict(ce)
        hp = dict(ce["hyperparameters"])
        hp["steps"] = int(hp["steps"]) + EXTRA_STEPS
        longer["hyperparameters"] = hp
        extended = replay_ce(longer)
    before, after = float(exact.losses[k]), float(exact.losses[k + 1])
    return {
        "stored_steps": int(ce["hyperparameters"]["steps"]),
        "losses": [float(v) for v in extended.losses],
        "reproduced": before == float(ce["loss_before"]) and after == float(ce["loss_after"]),
        "loss_before": before,
        "loss_after": after,
    }


def counterexample_figure(ce: dict[str, Any], rep: dict[str, Any], title: str, path: Path) -> Path:
    """DAG | loss per step with the rise marked | change of loss per step (symlog)."""
    plt = pyplot()
    pos = layout(ce["spec"])
    cols = max(p[0] for p in pos.values())
    fig = plt.figure(figsize=(12, 3.3))
    grid = fig.add_gridspec(1, 3, width_ratios=(max(1.0, 0.25 * cols), 1, 1), wspace=0.3)
    draw_dag(fig.add_subplot(grid[0]), ce["spec"], "counterexample DAG")
    ax1, ax2 = fig.add_subplot(grid[1]), fig.add_subplot(grid[2])
    e = np.asarray(rep["losses"], dtype=float)
    n = rep["stored_steps"]
    k = int(ce["step"])
    steps = np.arange(len(e))
    ax1.plot(
        steps[: n + 1], e[: n + 1], "o-", color=DECREASE_COLOR, markersize=3.5, label="stored run"
    )
    if len(e) > n + 1:
        ax1.plot(steps[n:], e[n:], "o--", color="#9aa5b1", markersize=3, label="further steps")
    # every rise of the stored run in red, not only the judged one (a skip claim judged from
    # step 1 drew its step-0 rise blue: held-out report review)
    others = [i for i in range(min(n, len(e) - 1)) if e[i + 1] > e[i] and i != k]
    for j, i in enumerate(others):
        label = "another rise" if j == 0 else None
        ax1.plot(
            [i, i + 1], [e[i], e[i + 1]], "-", color=INCREASE_COLOR, linewidth=1.5, label=label
        )
    ax1.plot([k, k + 1], [e[k], e[k + 1]], "-", color=INCREASE_COLOR, linewidth=3, label="the rise")
    ax1.set_xlabel("step k")
    # further steps that blow up flattened the stored run and its rise into the axis on a
    # linear scale (0.44 -> 1.57 under 9e5; held-out report review): a log scale then
    seen = e[np.isfinite(e)]
    wide = seen.size > 0 and seen.min() > 0 and seen.max() > 100 * seen.min()
    if wide:
        ax1.set_yscale("log")
    ax1.set_title("loss E(w_k)" + (", log scale" if wide else ""))
    ax1.legend(loc="best")
    d = np.diff(e)
    for i, v in enumerate(d):
        ax2.bar(
            i + 0.5,
            v,
            width=0.7,
            color=INCREASE_COLOR if v > 0 else DECREASE_COLOR,
            alpha=1.0 if i < n else 0.4,
            edgecolor="#1d232b" if i == k else "none",
            linewidth=1.2,
        )
    tiny = np.abs(d[np.isfinite(d) & (d != 0)])
    ax2.set_yscale("symlog", linthresh=float(tiny.min()) if tiny.size else 1e-12)
    ax2.axhline(0, color="#555555", linewidth=0.8)
    ax2.set_xlabel("step k → k+1")
    ax2.set_title(f"E(w_k+1) − E(w_k), symlog; rise at k = {k}: +{ce['increase']:.3g}")
    fig.suptitle(title, fontsize=10, y=1.02)
    return save(fig, path)


def pair_figure(ce: dict[str, Any], path: Path) -> Path:
    """A skip-DAG counterexample's metamorphic pair: the sequential DAG | the skip DAG."""
    plt = pyplot()
    seq = ce["sequential"]["spec"]
    cols = [max(p[0] for p in layout(s).values()) for s in (seq, ce["spec"])]
    fig = plt.figure(figsize=(11, 3.0))
    grid = fig.add_gridspec(1, 2, width_ratios=[max(1.0, 0.25 * c) for c in cols], wspace=0.15)
    draw_dag(fig.add_subplot(grid[0]), seq, "sequential net: decreased at every step")
    draw_dag(fig.add_subplot(grid[1]), ce["spec"], f"with the skip: rose at step {ce['step']}")
    return save(fig, path)
