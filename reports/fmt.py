"""Number formatting shared by the sections: short, consistent, and never ``nan`` by surprise."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def num(v: float | int | None, digits: int = 3) -> str:
    """``v`` with ``digits`` significant digits (``-`` for None, ``inf``/``nan`` spelled out)."""
    if v is None:
        return "-"
    if isinstance(v, int | np.integer) and not isinstance(v, bool):
        return f"{int(v):,}"
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.{max(digits - 1, 0)}e}"
    return f"{v:.{digits}g}"


def pct(v: float, digits: int = 0) -> str:
    return f"{100 * v:.{digits}f}%"


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        return math.nan, math.nan
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def mean_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """The Student-t interval for the mean of ``values`` (paired differences: ``mean -+
    t_{(1+level)/2, n-1} sd / sqrt(n)``); NaNs for fewer than two values."""
    from scipy.stats import t

    a = np.asarray(values, dtype=float)
    if a.size < 2:
        return math.nan, math.nan
    m, sd = mean_std(a)
    half = float(t.ppf((1 + level) / 2, a.size - 1)) * sd / math.sqrt(a.size)
    return m - half, m + half


def pm(values: Sequence[float], digits: int = 3) -> str:
    """``mean ± sd`` of ``values``."""
    m, s = mean_std(values)
    return f"{num(m, digits)} ± {num(s, 2)}"


def seconds(s: float) -> str:
    """``42.0 s`` or ``2 min 5 s``."""
    if s < 59.95:
        return f"{s:.1f} s"
    whole = round(s)
    return f"{whole // 60} min {whole % 60} s"


def count(n: int, noun: str) -> str:
    """``1 node``, ``5 nodes``: a count with its noun, plural by an added s."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
