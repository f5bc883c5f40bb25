"""The vanishing-gradient subsection: gradient RMS per layer, and its decay against depth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .document import Callout, Figure, Paragraph, Section, Table
from .fmt import num
from .plotting import integer_ticks, log_axis, pyplot, save
from .vanishing import FAMILIES

COLORS = {"sigmoid": "#4c72b0", "tanh": "#8172b3", "distance": "#2a9d8f"}
LABELS = {
    "sigmoid": "dot product + sigmoid",
    "tanh": "dot product + tanh",
    "distance": "distance (Gaussian)",
}


def _geomean(a: np.ndarray, axis: int = 0) -> np.ndarray:
    return np.exp(np.mean(np.log(np.maximum(a, 1e-300)), axis=axis))


def vanishing_figure(res: dict[str, Any], path: Path) -> Path:
    """Left: gradient RMS per layer for the deepest chains. Right: first/last ratio vs depth."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    deepest = str(max(res["depths"]))
    for fam in FAMILIES:
        runs = np.asarray(res["layer_rms"][fam][deepest], dtype=float)
        layers = np.arange(1, runs.shape[1] + 1)
        ax1.plot(layers, _geomean(runs), "o-", color=COLORS[fam], label=LABELS[fam], markersize=4)
        depths = sorted(int(d) for d in res["first_over_last"][fam])
        ratios = [_geomean(np.asarray(res["first_over_last"][fam][str(d)])) for d in depths]
        ax2.plot(depths, ratios, "o-", color=COLORS[fam], label=LABELS[fam], markersize=4)
    log_axis(ax1)
    ax1.set_xlabel(f"layer (1 = first hidden, {int(deepest) + 1} = output)")
    ax1.set_title(f"gradient RMS per layer, {deepest} hidden layers")
    ax1.set_xticks(range(1, int(deepest) + 2))
    log_axis(ax2)
    integer_ticks(ax2)
    ax2.axhline(1.0, color="#777777", linestyle=":", linewidth=1)
    ax2.set_xlabel("hidden layers D")
    ax2.set_title("first hidden layer / last hidden layer")
    ax1.legend(loc="lower right")
    fig.tight_layout()
    return save(fig, path)


def vanishing_subsection(sec: Section, res: dict[str, Any], fig_dir: Path, rel: str) -> None:
    vanishing_figure(res, fig_dir / "vanishing_gradients.png")
    sub = sec.sub("vanishing", "Vanishing gradients: dot-product against distance layers")
    depths = sorted(int(d) for d in res["first_over_last"]["sigmoid"])
    sub.add(
        Paragraph(
            f"Chains of D hidden layers of {res['width']} units (D = "
            f"{', '.join(str(d) for d in res['depths'])}) on {res['rows']} digits, at "
            "initialisation (Glorot-uniform dense layers; data-driven distance layers), "
            f"{res['seeds']} seed{'s' if res['seeds'] > 1 else ''}. A layer's measure is the "
            "root-mean-square of the gradient over all its parameters; a ratio first/last far "
            "below 1 means the gradient vanishes on its way back to the input."
        ),
        Figure(
            f"{rel}/vanishing_gradients.png",
            "Left: gradient RMS per layer for the deepest chains (geometric mean over seeds). "
            "Right: the first hidden layer's gradient RMS over the last hidden layer's, "
            "against depth (1 = no decay).",
            "Gradient size per layer and its decay with depth for three layer types",
        ),
    )
    rows = []
    for fam in FAMILIES:
        ratios = [
            num(float(_geomean(np.asarray(res["first_over_last"][fam][str(d)]))), 3) for d in depths
        ]
        rows.append((LABELS[fam], *ratios))
    sub.add(
        Table(
            ("layers", *(f"D = {d}" for d in depths)),
            tuple(rows),
            caption="First / last hidden layer gradient RMS (geometric mean over seeds).",
            numeric=(False, *(True for _ in depths)),
        )
    )
    d = str(max(depths))
    sig = float(_geomean(np.asarray(res["first_over_last"]["sigmoid"][d])))
    dist = float(_geomean(np.asarray(res["first_over_last"]["distance"][d])))
    tanh = float(_geomean(np.asarray(res["first_over_last"]["tanh"][d])))
    if dist >= 0.5 and sig < 0.1:
        kind, verdict = (
            "ok",
            (
                "Distance layers do not show the vanishing gradient of sigmoid dot-product layers, "
                "as the paper reports."
            ),
        )
    elif dist > sig:
        kind, verdict = "note", "Distance layers lose less gradient than sigmoid layers."
    else:
        kind, verdict = "fail", "Here distance layers lose more gradient than sigmoid layers."
    sub.add(
        Callout(
            f"At D = {d} the first sigmoid layer receives {num(sig, 2)} times the last one's "
            f"gradient RMS; the first distance layer receives {num(dist, 2)} times it "
            f"(tanh with Glorot initialisation: {num(tanh, 2)}). {verdict}",
            kind,
        )
    )
