"""The claims ledger: every claim ``descentcheck verify`` checks, in ledger order."""

from __future__ import annotations

from ..claim import Claim
from .apriori import CLAIMS as APRIORI
from .convergence import CLAIMS as CONVERGENCE
from .descent import CLAIMS as DESCENT
from .distance import CLAIMS as DISTANCE
from .drawn_state import CLAIMS as DRAWN_STATE
from .falsify import CLAIMS as FALSIFY
from .forward import CLAIMS as FORWARD
from .gradients import CLAIMS as GRADIENTS
from .metamorphic import CLAIMS as METAMORPHIC
from .refusals import CLAIMS as REFUSALS
from .skip import CLAIMS as SKIP
from .updates import CLAIMS as UPDATES

CLAIMS: tuple[Claim, ...] = (
    *APRIORI,
    *DESCENT,
    *CONVERGENCE,
    *GRADIENTS,
    *UPDATES,
    *DRAWN_STATE,
    *FORWARD,
    *REFUSALS,
    *METAMORPHIC,
    *DISTANCE,
    *FALSIFY,
    *SKIP,
)
BY_ID: dict[str, Claim] = {c.id: c for c in CLAIMS}

__all__ = ["BY_ID", "CLAIMS"]
