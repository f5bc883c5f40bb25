"""The autoencoder section: training curves with spread, metrics per seed, reconstructions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .autoencoder import OPTIMIZERS
from .dag import dag_figure
from .document import Callout, Figure, Paragraph, Section, Table
from .fmt import mean_interval, mean_std, num, pm
from .plotting import OPTIMIZER_LABELS, band, log_axis, pyplot, save

ARCH_COLORS = {"sequential": "#7f7f7f", "skip": "#c0392b"}
ARCH_LABELS = {"sequential": "sequential", "skip": "skip connections (DAG)"}


def curves_figure(res: dict[str, Any], path: Path) -> Path:
    """Training loss per step, mean over seeds with the min-max band; one panel per optimizer,
    and the test PSNR of every seed."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(OPTIMIZERS) + 1, figsize=(12, 3.6))
    for ax, opt in zip(axes, OPTIMIZERS):
        for arch in ("sequential", "skip"):
            curves = [r["curve"] for r in res["runs"][arch][opt]]
            band(ax, np.arange(len(curves[0])), curves, ARCH_COLORS[arch], ARCH_LABELS[arch], True)
        log_axis(ax)
        ax.set_xlabel("step")
        ax.set_title(f"training loss, {OPTIMIZER_LABELS[opt]}")
    ax = axes[-1]
    for j, arch in enumerate(("sequential", "skip")):
        for i, opt in enumerate(OPTIMIZERS):
            psnr = [r["test"]["psnr"] for r in res["runs"][arch][opt]]
            xpos = i + (j - 0.5) * 0.3
            ax.scatter(
                np.full(len(psnr), xpos),
                psnr,
                color=ARCH_COLORS[arch],
                s=18,
                zorder=3,
                label=ARCH_LABELS[arch] if i == 0 else None,
            )
            m = float(np.mean(psnr))
            ax.plot([xpos - 0.1, xpos + 0.1], [m, m], color=ARCH_COLORS[arch], linewidth=2)
    ax.set_xticks(range(len(OPTIMIZERS)), [OPTIMIZER_LABELS[o] for o in OPTIMIZERS])
    ax.set_xlim(-0.6, len(OPTIMIZERS) - 0.4)
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("test PSNR per seed (bar: mean)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, bbox_to_anchor=(0.5, -0.04))
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return save(fig, path)


def reconstructions_figure(res: dict[str, Any], path: Path) -> Path:
    """Eight test digits: the originals, then each autoencoder's reconstruction (seed 0)."""
    plt = pyplot()
    rows = ("original", "sequential", "skip")
    ex = res["examples"]
    n = len(ex["original"])
    fig, axes = plt.subplots(len(rows), n, figsize=(0.9 * n + 1.2, 3.0))
    for i, row in enumerate(rows):
        for j in range(n):
            ax = axes[i, j]
            img = np.clip(np.asarray(ex[row][j]).reshape(8, 8), 0, 1)
            ax.imshow(img, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[i, 0].set_ylabel(
            {"original": "original", **ARCH_LABELS}[row].replace(" (", "\n("),
            fontsize=8,
            rotation=0,
            ha="right",
            va="center",
        )
    fig.tight_layout()
    return save(fig, path)


def _results_rows(res: dict[str, Any]) -> tuple[list[tuple[str, ...]], list[str]]:
    """The results table's rows (optimizer x architecture) and, per optimizer, the paired
    skip-against-sequential PSNR verdict in words."""
    p = res["params"]
    rows, verdicts = [], []
    for opt in OPTIMIZERS:
        for arch in ("sequential", "skip"):
            runs = res["runs"][arch][opt]
            rows.append(
                (
                    OPTIMIZER_LABELS[opt],
                    ARCH_LABELS[arch],
                    f"{p[arch]:,}",
                    pm([r["test"]["mse"] for r in runs], 3),
                    pm([r["test"]["psnr"] for r in runs], 4),
                    pm([r["test"]["mae"] for r in runs], 3),
                    pm([r["curve"][-1] for r in runs], 3),
                )
            )
        seq = [r["test"]["psnr"] for r in res["runs"]["sequential"][opt]]
        skip = [r["test"]["psnr"] for r in res["runs"]["skip"][opt]]
        d = np.asarray(skip) - np.asarray(seq)
        dm, ds = mean_std(d)
        lo, hi = mean_interval(d)
        wins = int(np.sum(d > 0))
        if lo > 0 or hi < 0:  # a NaN interval (one seed) compares False: "cannot tell"
            judged = "a difference the 95% interval tells from zero"
        else:
            judged = f"{len(d)} seeds cannot tell it from zero"
        verdicts.append(
            f"with {OPTIMIZER_LABELS[opt]} the DAG's held-out PSNR is {num(dm, 2)} dB "
            f"{'higher' if dm > 0 else 'lower'} on average (sd {num(ds, 2)} dB over paired "
            f"seeds; better on {wins} of {len(d)} seeds; paired t 95% interval for the mean "
            f"[{num(lo, 2)}, {num(hi, 2)}] dB: {judged})"
        )
    return rows, verdicts


def autoencoder_section(res: dict[str, Any], fig_dir: Path, rel: str) -> Section:
    curves_figure(res, fig_dir / "autoencoder_curves.png")
    reconstructions_figure(res, fig_dir / "autoencoder_reconstructions.png")
    dag_figure(res["specs"]["skip"], fig_dir / "autoencoder_skip_dag.png")
    sec = Section("autoencoder", "The convergence paper's experiment: autoencoders on digits")
    p = res["params"]
    sec.add(
        Paragraph(
            "Agarwal, Klobusicky & Schonfeld report that an autoencoder with skip connections "
            "(a DAG) compresses better than a sequential one. Both here compress scikit-learn's "
            f"8×8 digits through a code of {res['code_units']} tanh units: the sequential net "
            f"64 → {res['hidden']['sequential']} → {res['code_units']} → "
            f"{res['hidden']['sequential']} → 64 ({p['sequential']:,} parameters) against a DAG "
            f"with hidden width {res['hidden']['skip']} whose code layer also reads the input "
            f"and whose output layer also reads the code ({p['skip']:,} parameters; the skips "
            f"never bypass the code). {res['n_train']} training and {res['n_test']} held-out "
            f"digits per seed (pixels in [0, 1], centred by the training mean image), "
            f"{res['steps']} full-batch steps, {res['seeds']} seeds (initialisation and split). "
            "Adaptive momentum is the paper's algorithm, with lr = 1/L_0 for each network and "
            "τ = 0.8 τ_max(lr, L_0); RMSProp (lr = 0.003) is a second, L-free optimizer."
        ),
        Figure(
            f"{rel}/autoencoder_skip_dag.png",
            "The skip autoencoder's DAG (skip connections in red).",
            "DAG of the skip-connection autoencoder",
        ),
        Figure(
            f"{rel}/autoencoder_curves.png",
            "Training loss per step (mean over seeds, geometric; band: min to max over seeds) "
            "and the held-out PSNR of every seed.",
            "Autoencoder training curves and test PSNR",
        ),
    )
    rows, verdicts = _results_rows(res)
    base_m, _ = mean_std(res["mean_image_psnr"])
    sec.add(
        Table(
            (
                "optimizer",
                "autoencoder",
                "parameters",
                "test MSE / pixel",
                "test PSNR (dB)",
                "test MAE",
                "final training loss",
            ),
            tuple(rows),
            caption=f"Held-out reconstruction, mean ± sd over {res['seeds']} seeds "
            f"(predicting the mean image: {num(base_m, 3)} dB).",
            numeric=(False, False, True, True, True, True, True),
        ),
        Callout("Skip against sequential: " + "; ".join(verdicts) + ".", "note"),
        Figure(
            f"{rel}/autoencoder_reconstructions.png",
            "Held-out digits and their reconstructions (seed 0, adaptive momentum).",
            "Original digits and their reconstructions by both autoencoders",
        ),
    )
    return sec
