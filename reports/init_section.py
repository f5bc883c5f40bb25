"""The initialisation subsection: the deep distance network from three initialisations
(Kurbiel & Khaleghian, arXiv:1708.01911: initialisation decides whether these nets train).

The runs are :func:`.distance.run`'s ``inits``: RMSProp at its tuned learning rate on the same
seeds, so each alternative is compared with the data-driven initialisation seed by seed (the
paired difference of held-out accuracy, with its Student-t 95% interval)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .distance import INITS, final_values
from .document import Callout, Paragraph, Section, Table
from .fmt import mean_interval, pct, pm

LABELS = {
    "data": "data-driven (centroids at data rows, median activation exp(−½))",
    "no_data": "without data (N(0, 1) centroids, radii for 2d)",
    "unit_radii": "data's centroids, every radius 1",
}


def _rows(res: dict[str, Any]) -> tuple[list[tuple[str, ...]], dict[str, tuple[float, float]]]:
    """The table's rows, and each alternative's interval for the paired accuracy difference
    (data-driven minus it)."""
    base = np.array(final_values(res["inits"]["data"], "test_acc"))
    rows, intervals = [], {}
    for how in INITS:
        runs = res["inits"][how]
        acc = np.array(final_values(runs, "test_acc"))
        diff = "—"
        if how != "data":
            intervals[how] = mean_interval(base - acc)
            lo, hi = intervals[how]
            diff = f"{pct(float(np.mean(base - acc)), 1)} [{pct(lo, 1)}, {pct(hi, 1)}]"
        rows.append((LABELS[how], pm(final_values(runs, "train_loss"), 3), pm(list(acc), 3), diff))
    return rows, intervals


def _callout(intervals: dict[str, tuple[float, float]]) -> Callout:
    """ok when the data-driven initialisation is ahead of every alternative by an interval that
    excludes 0; otherwise a note naming the alternatives it is not ahead of: level (the interval
    holds 0; a NaN interval, one seed, too) or ahead of it (the interval below 0)."""
    beaten = [h for h, (lo, _) in intervals.items() if lo > 0]
    ahead = [h for h, (_, hi) in intervals.items() if hi < 0]
    level = [h for h in intervals if h not in beaten and h not in ahead]
    if not level and not ahead:
        return Callout(
            "The data-driven initialisation reaches a higher held-out accuracy than each "
            "alternative, by a paired difference whose 95% interval excludes 0: initialisation "
            "matters here, as the paper reports.",
            "ok",
        )
    parts = []
    if level:
        parts.append(
            "The seeds cannot tell the data-driven initialisation ahead of: "
            + ", ".join(LABELS[h] for h in level)
            + "."
        )
    if ahead:
        parts.append(
            "It is behind (the interval below 0): " + ", ".join(LABELS[h] for h in ahead) + "."
        )
    parts.append(
        "The paper's point that initialisation decides whether these nets train is shown here "
        "only for "
        + (", ".join(LABELS[h] for h in beaten) if beaten else "none of the alternatives")
        + "."
    )
    return Callout(" ".join(parts), "note")


def init_subsection(sec: Section, res: dict[str, Any]) -> None:
    rows, intervals = _rows(res)
    sub = sec.sub("distance-init", "Initialisation of the deep distance network")
    sub.add(
        Paragraph(
            "The paper stresses that initialisation decides whether distance networks train. "
            f"The deep network above, trained by RMSProp at its chosen learning rate on the same "
            f"{len(res['inits']['data'])} seeds, from three initialisations: this suite's "
            "(every other run in this report), the one it uses without data, and the data's "
            "centroids with every radius 1, a natural default: on 64 standardised pixels a "
            "unit's exponent is then about −64, so every activation starts near e^−64."
        ),
        Table(
            ("initialisation", "final training loss", "held-out accuracy", "data-driven ahead by"),
            tuple(rows),
            caption=f"After {res['epochs']} epochs, mean ± sd over seeds; the last column is the "
            "paired difference of held-out accuracy (data-driven minus the row), mean and "
            "Student-t 95% interval.",
            numeric=(False, True, True, True),
        ),
        _callout(intervals),
    )
