"""The trajectories section: per DAG, its drawing and loss, gradient norm and momentum per step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .dag import dag_figure
from .document import Figure, Paragraph, Section, Table
from .fmt import num
from .plotting import OPTIMIZER_COLORS, OPTIMIZER_LABELS, log_axis, pyplot, save


def _values(series: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in series], dtype=float)


def _clip_divergence(loss: np.ndarray, limit: float) -> int:
    """Number of leading steps to draw: up to (not past) the first value beyond ``limit``."""
    bad = np.flatnonzero(~np.isfinite(loss) | (loss > limit))
    return int(bad[0]) + 1 if bad.size else len(loss)


def trajectory_figure(dag: dict[str, Any], path: Path) -> Path:
    """The loss (log), gradient norm (log) and momentum coefficient per step.

    A diverging run is drawn until its loss passes 10x the starting loss and ends in a cross."""
    plt = pyplot()
    fig, (ax_loss, ax_grad, ax_mom) = plt.subplots(1, 3, figsize=(12, 3.5))
    start = max(_values(r["loss"])[0] for r in dag["runs"].values())
    limit = 10 * start
    top = 0.0
    for i, (opt, run) in enumerate(dag["runs"].items()):
        # a plugin's optimizer: its name, and a colour the palette does not use
        color = OPTIMIZER_COLORS.get(opt, f"C{(i + 5) % 10}")
        label = OPTIMIZER_LABELS.get(opt, opt)
        style = "--" if opt == "nesterov" else "-"
        loss = _values(run["loss"])
        n = _clip_divergence(loss, limit)
        # heavy ball wider under Nesterov's dashes: the two often coincide (held-out review)
        width = 2.8 if opt == "momentum" else 1.5
        ax_loss.plot(np.arange(n), loss[:n], style, color=color, label=label, linewidth=width)
        g = _values(run["grad_norm"])[:n]
        ax_grad.plot(np.arange(len(g)), g, style, color=color, linewidth=width - 0.4)
        if n < len(loss) or run["status"] == "diverged":
            ax_loss.plot(
                n - 1,
                min(loss[n - 1], limit) if np.isfinite(loss[n - 1]) else limit,
                "x",
                color=color,
                markersize=8,
                mew=2,
                clip_on=False,  # it sits on the axis's top edge: drawn whole, a cross
                zorder=5,
            )
        m = _values(run["momentum"])[: max(n - 1, 0)]
        if np.isfinite(m).any():
            ax_mom.plot(np.arange(len(m)), m, style, color=color, linewidth=width - 0.4)
            top = max(top, float(np.nanmax(m)))
    log_axis(ax_loss)
    if any(r["status"] == "diverged" for r in dag["runs"].values()):
        ax_loss.set_ylim(top=limit)
    ax_loss.set_title("loss E(w_k)")
    log_axis(ax_grad)
    ax_grad.set_title("gradient norm |g_k|")
    ax_mom.set_title("momentum coefficient (β or α_k)")
    ax_mom.set_ylim(0, min(max(top * 1.1, 0.1), 2.0))
    steps = max(len(r["loss"]) for r in dag["runs"].values()) - 1
    for ax in (ax_loss, ax_grad, ax_mom):
        ax.set_xlabel("step k")
        ax.set_xlim(0, steps)
    handles, labels = ax_loss.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, bbox_to_anchor=(0.5, -0.04))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return save(fig, path)


def _hp(hp: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v if isinstance(v, str) else num(v, 3)}" for k, v in hp.items())


def trajectories_section(results: dict[str, Any], fig_dir: Path, rel: str) -> Section:
    sec = Section("trajectories", "Trajectories")
    sec.add(
        Paragraph(
            f"Each network trains full batch for {results['steps']} steps from the same w_0 "
            "with every optimizer. Learning rates come from the estimated L_0 at w_0: "
            "lr = 1/L_0 for gradient descent, heavy ball and Nesterov (β = 0.5) and adaptive "
            "momentum (τ = 0.8 τ_max(lr, L_0), inside the derived region for L_0); RMSProp "
            "normalises its step per coordinate and uses lr = 0.01, ρ = 0.99. The momentum "
            "panel shows β for heavy ball and Nesterov and α_k = τ|g_k|/|Δw_(k-1)| for adaptive "
            "momentum (the largest over parameter arrays); gradient descent and RMSProp have "
            "none. When the curvature grows along the path beyond L_0 (distance layers "
            "sharpen as their radii grow), a step size set from L_0 is no longer safe: that is "
            "visible below, and it is why the theorem needs L over the whole sublevel set."
        )
    )
    rows = []
    for key, dag in results["dags"].items():
        src = f"{rel}/trajectories_{key}.png"
        trajectory_figure(dag, fig_dir / f"trajectories_{key}.png")
        dag_figure(dag["spec"], fig_dir / f"dag_{key}.png")
        sub = sec.sub(f"trajectories-{key}", dag["title"])
        sub.add(
            Figure(
                f"{rel}/dag_{key}.png",
                f"The DAG: {dag['n_params']} parameters; skip connections (if any) in red.",
                f"DAG of {dag['title']}",
            ),
            Figure(
                src,
                f"{dag['title']}: {dag['n_params']} parameters, {dag['n']} samples of "
                f"`{dag['data']}`, L_0 = {num(dag['L0'])}. A cross marks a run that diverged.",
                f"Per-step loss, gradient norm and momentum for {dag['title']}",
            ),
        )
        for opt, r in dag["runs"].items():
            if r["status"] == "diverged":
                mono = f"[badge] diverged (rise at step {r['first_increase']})"
            elif r["decreased_every_step"]:
                mono = "[badge] yes"
            else:
                mono = f"[badge] no (first rise at step {r['first_increase']})"
            rows.append(
                (
                    dag["title"],
                    OPTIMIZER_LABELS.get(opt, opt),
                    _hp(r["hyperparameters"]),
                    num(r["final_loss"], 4) if r["status"] != "diverged" else "diverged",
                    mono,
                )
            )
    sec.add(
        Table(
            ("network", "optimizer", "hyperparameters", "final loss", "decreased every step"),
            tuple(rows),
            caption="Final loss and monotonicity per network and optimizer.",
            numeric=(False, False, False, True, False),
        )
    )
    return sec
