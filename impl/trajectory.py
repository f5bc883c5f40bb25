"""What a training run measured, step by step, and its JSON form (``trajectory.json``).

For steps k = 0..K-1 (K the number of updates made)::

    losses[k]      E(w_k), the full-batch loss before update k; losses[K] = E(w_K)
    grad_norms[k]  ||g_k||, the norm of the gradient update k used (the minibatch's with a
                   batch size); grad_norms[K] is the full-batch ||grad E(w_K)|| when full batch
    step_norms[k]  ||dw_k||, the norm of the update the optimizer computed; w_{k+1} = w_k + dw_k
                   rounds, so ||w_{k+1} - w_k|| differs only where dw_k is below an entry's ulp
    momentum[k]    the momentum coefficient of update k: alpha_k (adaptive), beta, or None

A run that meets a non-finite loss stops there with ``status = "diverged"``; ``losses`` then ends
with that inf/NaN value. So does one whose gradient is not finite (``grad_norms`` ends with it),
or whose update is not (a finite gradient can give one: RMSProp's 0/0 at ``eps = 0``): the run
stops once update k is applied, ``step_norms`` ending with it and ``losses`` with E(w_k). JSON
has no inf/NaN, so they are written as the strings ``"inf"``, ``"-inf"`` and ``"nan"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Array = np.ndarray


#: how a non-finite number is written (JSON has none), and what readers take back as one
NON_FINITE = ("inf", "-inf", "nan")


def json_float(v: float | None) -> float | str | None:
    """A float for JSON: non-finite values become strings."""
    if v is None:
        return None
    v = float(v)
    if math.isfinite(v):
        return v
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def jsonable(v: Any) -> Any:
    """``v`` with dicts and sequences copied recursively, numpy scalars made Python and
    non-finite floats made strings (:func:`json_float`), so ``json.dumps(allow_nan=False)``
    accepts it."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()
    if isinstance(v, float):
        return json_float(v)
    return v


TRAJECTORY_FORMAT = "descentcheck.trajectory/1"
"""The ``format`` of the ``trajectory.json`` that ``descentcheck train`` writes."""
ROUNDING = 4 * float(np.finfo(np.float64).eps)


def decreased_every_step(losses: Any) -> tuple[bool, int | None, float]:
    """Whether E fell at every step, up to float64 rounding.

    A step k counts as a rise when ``E_{k+1} - E_k > 4 eps (|E_k| + |E_{k+1}|)``; a run whose
    losses turn non-finite does not hold: its first rise is the first finite step that rose,
    else the step into the non-finite loss.

    Returns:
        ``(holds, first_rise, worst_relative_rise)``: the first step that rose (None when none
        did) and the largest ``(E_{k+1} - E_k) / |E_k|`` (inf for a non-finite run; negative
        when every step fell).
    """
    e = np.asarray(losses, dtype=np.float64)
    finite = np.isfinite(e)
    bad = len(e) if finite.all() else int(np.argmax(~finite))
    d = np.diff(e[:bad])
    up = np.flatnonzero(d > ROUNDING * (np.abs(e[: bad - 1]) + np.abs(e[1:bad])))
    if bad < len(e):  # a held-out sweep user: a run rising from step 0 was reported from its end
        return False, int(up[0]) if up.size else max(bad - 1, 0), math.inf
    rel = d / np.maximum(np.abs(e[:-1]), 1e-300)
    worst = float(rel.max()) if rel.size else 0.0
    return (up.size == 0), (int(up[0]) if up.size else None), worst


@dataclass
class Trajectory:
    optimizer: str
    hyperparameters: dict[str, Any]
    losses: Array
    grad_norms: Array
    step_norms: Array
    momentum: list[float | None]
    params: dict[str, Array]
    status: str = "completed"
    message: str = ""
    wall_time: float = 0.0
    batch_size: int | None = None
    seed: int = 0
    params_history: list[dict[str, Array]] | None = field(default=None, repr=False)
    backend: str = "numpy"
    """The array backend the run computed on (``impl.backend``), and its device in words."""
    device: str = ""

    @property
    def steps(self) -> int:
        """Number of updates made."""
        return len(self.step_norms)

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1])

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    def increases(self, tol: float = 0.0) -> list[int]:
        """Steps k where the loss did not end at most ``tol`` above where it started:
        E(w_{k+1}) > E(w_k) + tol, or either is NaN (a loss that became NaN did not decrease)."""
        d = np.diff(self.losses)
        return [int(k) for k in np.flatnonzero(~(d <= tol))]

    def to_json(self) -> dict[str, Any]:
        steps = []
        for k in range(len(self.losses)):
            steps.append(
                {
                    "step": k,
                    "loss": json_float(self.losses[k]),
                    "grad_norm": json_float(self.grad_norms[k])
                    if k < len(self.grad_norms)
                    else None,
                    "step_norm": json_float(self.step_norms[k])
                    if k < len(self.step_norms)
                    else None,
                    "momentum": json_float(self.momentum[k]) if k < len(self.momentum) else None,
                }
            )
        return {
            "format": TRAJECTORY_FORMAT,
            "optimizer": self.optimizer,
            "hyperparameters": {
                k: json_float(v) if isinstance(v, float) else v
                for k, v in self.hyperparameters.items()
            },
            "batch_size": self.batch_size,
            "seed": self.seed,
            "backend": self.backend,
            "device": self.device,
            "status": self.status,
            "message": self.message,
            "n_steps": self.steps,
            "final_loss": json_float(self.final_loss),
            "wall_time": self.wall_time,
            "steps": steps,
        }
