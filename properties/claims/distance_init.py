"""A distance layer initialised on data takes its centroids from distinct data rows (holds).

``impl/ops/gaussian.py`` initialises a distance layer from its inputs on the data: its
centroids are data rows, drawn without replacement when there are at least as many rows as
units (so no two units start on the same row). The claims train from this initialisation but
never look at it: the mutation run found a mutant that drew with replacement when the rows and
units are equally many alive.

Here a network whose first layer is a distance layer on the input is initialised on drawn data
with at least as many rows as units; every centroid must be a data row, and no row may be used
by more units than it occurs in the data.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
from hypothesis import strategies as st

from descentcheck.impl.network import Network

from ..claim import Claim, Context, Verdict
from ..profiles import Profile
from ..strategies import arrays, grid_floats

EPS = float(np.finfo(np.float64).eps)


@st.composite
def _draw(draw: st.DrawFn, profile: Profile, without_data: bool = True) -> dict[str, Any]:
    """A distance layer's spec, data and seed; with ``without_data``, half the cases initialise
    without the data (for the radii claim: the rows claim has nothing to test there)."""
    d = draw(st.integers(1, 3), label="inputs")
    units = draw(st.integers(1, 4), label="units")
    n = draw(st.integers(units, units + 2), label="rows")
    # rows from a pool of 1..n distinct ones: repeated rows put a unit's median distance at 0
    pool = draw(arrays(np.float64, (n, d), grid_floats(2.0)), label="row pool")
    x = pool
    if draw(st.booleans(), label="repeated rows"):
        size = draw(st.integers(1, n), label="pool size")
        picks = st.lists(st.integers(0, size - 1), min_size=n, max_size=n)
        x = pool[draw(picks, label="rows used")]
    seed = draw(st.integers(0, 2**32 - 1), label="param seed")
    radius = draw(st.sampled_from(("per_connection", "per_unit")), label="radius")
    spec = {
        "inputs": d,
        "output": "out",
        "loss": "mse",
        "nodes": [
            {"name": "g", "op": "gaussian", "units": units, "radius": radius, "inputs": ["input"]},
            {"name": "out", "op": "dense", "units": 1, "inputs": ["g"]},
        ],
    }
    no_data = without_data and draw(st.booleans(), label="initialised without data")
    return {"spec": spec, "x": x, "seed": seed, "no_data": no_data}


@st.composite
def _draw_radii(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    """:func:`_draw`'s cases, then data moved near the radii's fallback threshold 1e-8 d."""
    drawn = draw(_draw(profile))
    x = drawn["x"]
    d, units = x.shape[1], drawn["spec"]["nodes"][0]["units"]
    near = draw(st.integers(0, 2), label="data toward the fallback threshold")
    if near == 1:  # scaled by 2^-k (exact): typical medians (2^0..2^3) to 1e-8 d ~ 2^-26.6 d
        x = x * 2.0 ** -draw(st.integers(13, 15), label="scale exponent")
    elif near == 2 and d <= 2 and units <= 3:
        # rows 0, t e_1 and -t e_1: every centroid's median squared distance is t^2, exactly
        # 1e-8 d for d = 1, 2 (the threshold itself, which must take the fallback)
        x = np.zeros((3, d))
        x[1:, 0] = math.sqrt(1e-8 * d), -math.sqrt(1e-8 * d)
    return {**drawn, "x": x}


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    net = Network.from_spec(drawn["spec"])
    x = drawn["x"]
    c = net.init(seed=drawn["seed"], x=x)["g.centroids"]
    rows = Counter(map(tuple, x.tolist()))
    used = Counter(map(tuple, c.tolist()))
    misses = [r for r, k in used.items() if k > rows.get(r, 0)]
    msg = ""
    if misses:
        r = misses[0]
        msg = f"row {r} is a centroid {used[r]} times but a data row {rows.get(r, 0)} times"
    return Verdict(not misses, {"cases_tested": 1.0, "misses": float(len(misses))}, message=msg)


def _check_radii(drawn: dict[str, Any], ctx: Context) -> Verdict:
    net = Network.from_spec(drawn["spec"])
    x, d = drawn["x"], drawn["x"].shape[1]
    no_data = bool(drawn.get("no_data"))
    if no_data:  # no data: the median squared distance of two N(0, I_d) points
        p = net.init(seed=drawn["seed"])
        r, c = p["g.radii"], np.asarray(p["g.centroids"], dtype=np.float64)
        med = np.zeros(r.shape[0])  # every unit on the no-data scale
        scale = np.full(r.shape[0], 2.0 * d)
        if c.shape != (r.shape[0], d) or not np.all(np.isfinite(c)):  # N(0, I_d) centroids
            return Verdict(False, {"cases_without_data": 1.0}, message=f"centroids {c!r}")
    else:
        p = net.init(seed=drawn["seed"], x=x)
        c, r = p["g.centroids"], p["g.radii"]
        sqdist = ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)  # (n, units)
        med = np.median(sqdist, axis=0)
        fallback = max(float(np.mean(sqdist)), 2.0 * d)
        scale = np.where(med > 1e-8 * d, med, fallback)  # what r_j^2 must invert
    r_unit = r if r.ndim == 1 else r[:, 0]
    same = r.ndim == 1 or bool(np.all(r == r[:, :1]))
    worst = float(np.max(np.abs(r_unit * r_unit * scale - 1.0))) / (4 * EPS)
    ok = same and worst <= 1.0
    msg = "" if ok else f"r^2 times the unit's scale is {r_unit * r_unit * scale}, not 1 (x = {x})"
    measured = {
        "worst_error_over_tolerance": worst if same else float("inf"),
        "units_on_the_median": float(np.sum(med > 1e-8 * d)),
        "units_on_the_fallback": 0.0 if no_data else float(np.sum(med <= 1e-8 * d)),
        "units_without_data": float(len(med)) if no_data else 0.0,
        # medians within 2x of the threshold, and at it: where its mutants differ
        "units_near_the_threshold": float(np.sum((med > 5e-9 * d) & (med < 2e-8 * d))),
        "units_at_the_threshold": float(np.sum(med == 1e-8 * d)),
    }
    return Verdict(ok, measured, {"worst_error_over_tolerance": 1.0}, message=msg)


DISTANCE_INIT = Claim(
    id="distance-init-uses-distinct-rows",
    statement=(
        "A distance layer initialised on data with at least as many rows as units takes each "
        "centroid from a different data row"
    ),
    source=(
        "impl/ops/gaussian.py's initialisation (centroids drawn from the data without "
        "replacement when there are enough rows); added after the mutation run (issue 12 "
        "item 7) found a with-replacement mutant alive"
    ),
    conditions=(
        "a distance layer on 1 to 3 inputs with 1 to 4 units, then a dense output; n = units "
        "to units + 2 rows on the 1/16 grid of [-2, 2], drawn from a pool of 1 to n distinct "
        "rows (repeats); both radius kinds",
    ),
    expect="holds",
    # every case with data: half of them without it (the radii claim's share) were 144 of ci's
    # 400 cases that tested nothing here (a held-out coverage audit)
    strategy=lambda profile: _draw(profile, without_data=False),
    check=_check,
    summary={"cases_tested": "sum", "misses": "sum"},
    cost=0.5,
)

DISTANCE_INIT_RADII = Claim(
    id="distance-init-radii-set-the-median",
    statement=(
        "A distance layer initialised on data sets each unit's radius so that the median over "
        "the data of r^2 |x - c_j|^2 is 1 (the median logit -1/2), and for a unit whose median "
        "squared distance is at most 1e-8 d (data on its centroid) to the larger of the mean "
        "squared distance and 2d; without data to 2d; to 4 eps"
    ),
    source=(
        "impl/ops/gaussian.py's initialisation (Kurbiel & Khaleghian stress that initialisation "
        "decides whether these nets train; the median rule and its fallback are this suite's "
        "choice); added after the mutation run found a mutant of the fallback (2/d for 2d) alive"
    ),
    conditions=(
        "as distance-init-uses-distinct-rows; rows drawn from a pool of 1 to n distinct ones, "
        "so that repeated rows put some units' median distance at 0",
        "per-connection radii: every entry of a unit equal; half the cases initialise without data",
        "a third of the cases scale the data by 2^-13 to 2^-15, putting medians near the "
        "fallback threshold 1e-8 d; a third (d <= 2, units <= 3) take the rows 0, +-sqrt(1e-8 "
        "d) e_1, whose medians are the threshold exactly",
    ),
    expect="holds",
    strategy=_draw_radii,
    check=_check_radii,
    summary={
        "worst_error_over_tolerance": "max",
        "units_on_the_median": "sum",
        "units_on_the_fallback": "sum",
        "units_without_data": "sum",
        "units_near_the_threshold": "sum",
        "units_at_the_threshold": "sum",
    },
    cost=0.5,
)

CLAIMS = (DISTANCE_INIT, DISTANCE_INIT_RADII)
