"""The claims ledger: every claim ``descentcheck verify`` checks, in ledger order."""

from __future__ import annotations

from ..claim import Claim
from .convergence import CLAIMS as CONVERGENCE
from .descent import CLAIMS as DESCENT
from .distance import CLAIMS as DISTANCE
from .falsify import CLAIMS as FALSIFY
from .gradients import CLAIMS as GRADIENTS
from .metamorphic import CLAIMS as METAMORPHIC

CLAIMS: tuple[Claim, ...] = (
    *DESCENT,
    *CONVERGENCE,
    *GRADIENTS,
    *METAMORPHIC,
    *DISTANCE,
    *FALSIFY,
)
BY_ID: dict[str, Claim] = {c.id: c for c in CLAIMS}

__all__ = ["BY_ID", "CLAIMS"]
