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

from collections import Counter
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from descentcheck.impl.network import Network

from ..claim import Claim, Context, Verdict
from ..profiles import Profile
from ..strategies import grid_floats


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    d = draw(st.integers(1, 3), label="inputs")
    units = draw(st.integers(1, 4), label="units")
    n = draw(st.integers(units, units + 2), label="rows")
    x = draw(hnp.arrays(np.float64, (n, d), elements=grid_floats(2.0)), label="x")
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
    return {"spec": spec, "x": x, "seed": seed}


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
        "to units + 2 rows on the 1/16 grid of [-2, 2]; both radius kinds",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={"cases_tested": "sum", "misses": "sum"},
    cost=0.5,
)

CLAIMS = (DISTANCE_INIT,)
