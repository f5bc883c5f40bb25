"""The descent-region section: the two planes drawn with their cases, the verdict in words, and
PEPit's multi-step heavy-ball worst cases beside what the one-step regions say."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .document import Bullets, Callout, Figure, Paragraph, Section, Table
from .fmt import count, num, pct
from .plotting import DECREASE_COLOR, INCREASE_COLOR, REGION_COLOR, pyplot, save
from .region import ADAPTIVE_BOX, CONSTANT_BOX, tau_bound


def _scatter(
    ax: Any, xs: list[float], ys: list[float], ok: list[bool], xmax: float, ymax: float
) -> None:
    """Decreasing cases as blue dots, rising ones as red crosses; a point beyond the axes (its L
    grew along the path) is drawn on the edge as a triangle pointing outwards."""
    x, y, good = np.asarray(xs), np.asarray(ys), np.asarray(ok, dtype=bool)
    beyond = (x > xmax) | (y > ymax)
    x, y = np.minimum(x, xmax * 0.99), np.minimum(y, ymax * 0.99)
    for sel, color, marker, size, label in (
        (good & ~beyond, DECREASE_COLOR, "o", 14, "decreased at every step"),
        (~good & ~beyond, INCREASE_COLOR, "x", 22, "loss rose at some step"),
        (good & beyond, DECREASE_COLOR, ">", 16, None),
        (~good & beyond, INCREASE_COLOR, ">", 16, "beyond the axes (drawn on the edge)"),
    ):
        if sel.any() or label:
            ax.scatter(
                x[sel],
                y[sel],
                s=size,
                marker=marker,
                color=color,
                alpha=0.8,
                label=label,
                linewidths=1.2 if marker == "x" else 0,
                zorder=4,  # over the region's band and its notes (cases at beta = 0 were hidden)
            )


def _adaptive_panel(ax: Any, cases: list[dict[str, Any]]) -> None:
    """(lr·L, tau·L): the exact region, the first round's boundary, and the cases."""
    from descentcheck.theory.descent_cauchy_schwarz import cs_max_tau

    a = np.linspace(1e-6, 2.0, 401)
    bound = np.array([tau_bound(v) for v in a])
    ax.fill_between(a, 0, bound, color=REGION_COLOR, alpha=0.22, linewidth=0)
    ax.plot(
        a, bound, color=REGION_COLOR, linewidth=2, label=r"exact: $\tau = \min(\eta, 2/L-\eta)$"
    )
    old = np.array([max(0.0, cs_max_tau(v, 1.0)) for v in a])
    ax.plot(
        a,
        old,
        color="#555555",
        linewidth=1.2,
        linestyle="--",
        label=r"first round (Cauchy-Schwarz): $\tau + L(\eta+\tau)^2/2 = \eta$",
    )
    _scatter(
        ax,
        [c["lr_L"] for c in cases],
        [c["tau_L"] for c in cases],
        [c["decreased"] for c in cases],
        *ADAPTIVE_BOX,
    )
    ax.axvline(2.0, color="#777777", linestyle=":", linewidth=1)
    ax.set_xlim(0, ADAPTIVE_BOX[0])
    ax.set_ylim(0, ADAPTIVE_BOX[1])
    ax.set_xlabel(r"learning rate $\eta \cdot L$")
    ax.set_ylabel(r"momentum factor $\tau \cdot L$")
    ax.set_title(r"adaptive momentum $\alpha_k = \tau\,|g_k| / |\Delta w_{k-1}|$")
    ax.text(
        1.0,
        0.45,
        "guaranteed decrease",
        color="#1e6b34",
        ha="center",
        fontsize=8.5,
        fontweight="bold",
    )


def _constant_panel(ax: Any, cases: list[dict[str, Any]]) -> None:
    """(lr·L, beta): the region's one edge beta = 0, the quadratic's counterexample, the cases."""
    ax.plot([0, 2], [0, 0], color=REGION_COLOR, linewidth=5, solid_capstyle="butt")
    ax.text(
        1.0,
        0.035,
        "guaranteed only at β = 0, ηL < 2",
        fontsize=8,
        color="#1e6b34",
        ha="center",
        fontweight="bold",
    )
    ax.axvline(1.0, color="#8a5a00", linestyle="--", linewidth=1)
    ax.text(
        1.03,
        0.93,
        "f = Lx²/2, ηL = 1:\nrises for every β > 0",
        color="#8a5a00",
        fontsize=8,
        va="top",
    )
    ax.axvline(2.0, color="#777777", linestyle=":", linewidth=1)
    _scatter(
        ax,
        [c["lr_L"] for c in cases],
        [c["beta"] for c in cases],
        [c["decreased"] for c in cases],
        *CONSTANT_BOX,
    )
    ax.set_xlim(0, CONSTANT_BOX[0])
    ax.set_ylim(-0.02, CONSTANT_BOX[1])
    ax.set_xlabel(r"learning rate $\eta \cdot L$")
    ax.set_ylabel(r"momentum $\beta$")
    ax.set_title(r"constant momentum $\Delta w_k = -\eta g_k + \beta \Delta w_{k-1}$")


def region_figure(results: dict[str, Any], path: Path) -> Path:
    """Two panels: (lr·L, tau·L) for adaptive momentum, (lr·L, beta) for constant momentum."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.4))
    _adaptive_panel(ax1, results["adaptive"]["cases"])
    _constant_panel(ax2, results["constant"]["cases"])
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, bbox_to_anchor=(0.5, -0.01))
    fig.tight_layout(rect=(0, 0.11, 1, 1))
    return save(fig, path)


def tightness(s: dict[str, Any]) -> tuple[str, str]:
    """(along the learning rate, in tau): "tight", "loose" or "untested" for each."""
    lr_edge = s.get("min_failing_lr_L_past_2")
    tau = s.get("min_failing_tau_over_bound")
    along_lr = "untested" if lr_edge is None else ("tight" if lr_edge <= 2.5 else "loose")
    in_tau = "loose" if tau is None or tau >= 2.0 else "tight"
    return along_lr, in_tau


def verdict_adaptive(s: dict[str, Any]) -> tuple[str, str]:
    """(kind, sentences): whether the adaptive-momentum bound held, and where it is tight or
    loose, in words."""
    parts = []
    if s["inside_failed"]:
        kind = "fail"
        parts.append(
            f"{s['inside_failed']} of {s['inside']} cases inside the region rose at some step: "
            "the region did not hold with this L."
        )
    else:
        kind = "ok"
        parts.append(
            f"All {s['inside']} cases inside the region decreased at every step. With L taken "
            "from the run's own steps (each step's secant curvature included), a step of the "
            "theorem's form d = −ηg + m, |m| = τ|g|, cannot rise inside: this checks that the "
            "trainer's steps have that form (a trainer whose momentum term is longer than τ|g| "
            "makes cases inside rise), not the theorem, which theory proves."
        )
    if "inside_at_L0" in s:
        parts.append(
            f"Each case is placed with the largest curvature met along its run, known after it; "
            f"placed by L₀ alone, known before training, {s['inside_at_L0_failed']} of "
            f"{s['inside_at_L0']} cases inside the region rose (the curvature grew): the region "
            "is checked after the run here, not a guarantee fixed at w₀ (the ledger's apriori-* "
            "claims)."
        )
    if s["outside"]:
        share = s["outside_decreased"] / s["outside"]
        parts.append(
            f"Outside it, {s['outside_decreased']} of {s['outside']} ({pct(share)}) still "
            "decreased at every step."
        )
    along_lr, in_tau = tightness(s)
    lr_edge, tau = s.get("min_failing_lr_L_past_2"), s.get("min_failing_tau_over_bound")
    if along_lr == "tight":
        parts.append(
            f"Along the learning rate the bound is **tight**: past lr·L = 2, where τ no longer "
            f"matters, the first rise is at lr·L = {num(lr_edge, 3)}, just past the edge, where "
            "gradient descent's guarantee ends too."
        )
    elif along_lr == "loose":
        n = s.get("decreased_past_2_below_it", 0)
        parts.append(
            f"Along the learning rate the bound looks **loose**: past lr·L = 2, where τ no "
            f"longer matters, the first rise is at lr·L = {num(lr_edge, 3)}, and the "
            f"{count(n, 'case')} between 2 and it decreased."
        )
    if tau is None:
        parts.append("In τ it is **loose**: no case with lr·L < 2 rose, whatever its τ.")
    elif in_tau == "loose":
        parts.append(
            f"In τ it is **loose**: with lr·L < 2, no case rose with τ under {num(tau, 2)} "
            "times the bound τ_max(lr)."
        )
    else:
        parts.append(
            f"In τ it is **tight**: with lr·L < 2, rises appear from {num(tau, 2)} times the "
            "bound τ_max(lr)."
        )
    parts.append(
        "The region is exact for the worst case over every L-smooth E (attained by the quadratic "
        "of curvature L with the momentum term along ±g), which generic networks rarely meet."
    )
    return kind, " ".join(parts)


def verdict_constant(s: dict[str, Any]) -> str:
    mb = s["min_failing_beta"]
    return (
        f"With β > 0 and lr·L < 2, {s['failed_beta_positive_lr_below_2']} of "
        f"{s['beta_positive_lr_below_2']} cases rose at some step "
        + (f"(the smallest such β was {num(mb, 2)}); " if mb is not None else "; ")
        + f"with β < 0.1 {s['small_beta_failed']} of {s['small_beta_cases']} did. Theory "
        "promises nothing for β > 0 at every step (|Δw_{k-1}|/|g_k| is unbounded), and the "
        "known worst case f = Lx²/2 at lr = 1/L rises for every β > 0; generic networks mostly "
        "decrease at small β, so the guarantee is tight (nothing can be promised) while "
        "the typical behaviour is far better than the worst case."
    )


LARGER = (
    "It is three times the area of the first round's Cauchy-Schwarz region "
    "τ + L(η + τ)²/2 < η (1 against 1/3 in the (ηL, τL) plane, computed by SymPy); at "
    "η = 1/L it admits τ < 1/L instead of τ < 0.236/L, and the largest admissible τ is 1/L "
    "instead of 1/(4L). With momentum proportional to the step, τ = sη, it reads η < 2/(L(1 + s)), "
    "(1 + s)/(1 − s) times the old bound."
)
PEP_TABLE = Path(__file__).resolve().parent / "pep_heavy_ball.json"


def _pep_rows(data: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
    from descentcheck.theory.descent import max_tau

    rows = []
    for r in data["rows"]:
        a, beta = r["lr_L"], r["beta"]
        top = max_tau(a, 1.0)
        one_step = (
            "step 1: guaranteed (β plays no part from rest); later steps only while "
            + (f"ρ_k L < {num(top / beta, 3)}" if top > 0 else "never (ηL ≥ 2)")
            if a < 2
            else "nothing: ηL ≥ 2"
        )
        w = r["worst_step_change"]
        rows.append((num(a, 3), num(beta, 3), *(num(v, 4) for v in w), one_step))
    return tuple(rows)


def pep_subsection(sec: Section) -> dict[str, Any] | None:
    """PEPit's worst case of each of the first three heavy-ball steps from rest (solved at test
    time by ``tox -e pep``, which re-checks the committed file), beside the one-step regions."""
    if not PEP_TABLE.is_file():
        return None
    data = json.loads(PEP_TABLE.read_text())
    sub = sec.sub("pep-heavy-ball", "Heavy ball over three steps: PEPit's worst case")
    sub.add(
        Paragraph(
            "The one-step regions judge each step alone, with the momentum term's length "
            "ρ_k = |Δw_k−1|/|g_k| as given. PEPit (" + data["what"] + "; PEPit "
            f"{data['pepit']}, cvxpy {data['cvxpy']}, solved at test time, never at run time) "
            "follows the whole run from rest, where ρ_k is whatever the worst L-smooth f makes "
            "it. A positive entry means some L-smooth f makes that step rise (in units of "
            "|g_0|²/L)."
        ),
        Table(
            ("ηL", "β", "step 1", "step 2", "step 3", "what the one-step regions say"),
            _pep_rows(data),
            caption="Worst-case change of f at each step; ρ_k L < bound means β ρ_k < "
            "min(η, 2/L − η).",
            numeric=(True, True, True, True, True, False),
        ),
    )
    return data


def region_section(results: dict[str, Any], fig_dir: Path, rel: str) -> Section:
    """The section; figures are written under ``fig_dir`` (``rel`` is its path in the page)."""
    region_figure(results, fig_dir / "descent_region.png")
    ad, co = results["adaptive"]["summary"], results["constant"]["summary"]
    kind, words = verdict_adaptive(ad)
    sec = Section("region", "The descent region against generated cases")
    sec.add(
        Paragraph(
            "Theory derives, from L-smoothness alone and exactly, when one adaptive-momentum "
            "step must decrease E: τ < min(η, 2/L − η), for every L-smooth E and every direction "
            "of the momentum term (outside, a quadratic and a direction exist for which it does "
            f"not). {LARGER} Below, {ad['cases']} random small DAGs "
            f"({pct(ad['share_with_skips'])} with skip connections, "
            f"{pct(ad['share_with_distance'])} with a distance layer, both losses) were trained "
            f"full batch for {results['steps']} steps with adaptive momentum, and "
            f"{co['cases']} more with constant momentum. Each case drew its point in units of "
            f"L_0 (largest |Hessian eigenvalue| at w_0, by {results['L_estimator']}) and is "
            "plotted in units of L = max(L_0, the largest "
            "curvature along the steps it took, each step's secant curvature included), the "
            "constant the descent lemma needs for this run, measured on the run itself "
            f"(median L/L_0 = {num(ad['L_over_L0_median'], 3)})."
        ),
        Figure(
            f"{rel}/descent_region.png",
            "Left: the exact region for adaptive momentum (green; the first round's "
            "Cauchy-Schwarz region dashed) and the generated cases, "
            "blue if the loss decreased at every step, red if it rose at some step (a rise "
            "within float64 rounding, 4 eps (|E_k| + |E_k+1|), does not count). Right: constant "
            "momentum; theory's region is only the segment β = 0, ηL < 2. Points beyond the "
            "axes are drawn on the edge.",
            "Scatter plots of generated cases over the derived descent regions",
        ),
        Callout(words, kind),
        Paragraph(verdict_constant(co)),
        Table(
            ("plane", "cases", "inside region", "rose inside", "outside", "decreased outside"),
            (
                (
                    "adaptive (lr·L, tau·L)",
                    str(ad["cases"]),
                    str(ad["inside"]),
                    str(ad["inside_failed"]),
                    str(ad["outside"]),
                    str(ad["outside_decreased"]),
                ),
                (
                    "constant (lr·L, beta)",
                    str(co["cases"]),
                    "-",
                    "-",
                    str(co["cases"]),
                    str(co["decreased"]),
                ),
            ),
            caption="Cases per plane (constant momentum: every case with β > 0 is outside a "
            "region that needs ρ_k, unbounded, to be small).",
            numeric=(False, True, True, True, True, True),
        ),
        Bullets(
            (
                f"Learning rates beyond the gradient-descent limit lr·L ≥ 2 (constant momentum "
                f"plane): {co['lr_above_2_failed']} of {co['lr_above_2']} rose.",
                "A rise at lr·L < 2 with τ ≥ η is possible: no multiple of such a point lies in "
                "the region (the momentum term can outweigh the gradient step).",
            )
        ),
    )
    pep_subsection(sec)
    return sec
