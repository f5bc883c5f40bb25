"""The claims ledger: every claim ``descentcheck verify`` checks, in ledger order.

``BUILTIN`` holds the claims defined here; ``CLAIMS`` and ``BY_ID`` add the plugins' claims
(entry points in ``descentcheck.claims``, :mod:`descentcheck.registry.claims`), loaded on the
first read of either name, not at import: a broken claim plugin then fails ``verify`` with its
one-line error and leaves ``train`` and the other commands alone. :func:`reset` drops the cache
(tests that fake entry points); a module that already imported the names keeps its copies.
"""

from __future__ import annotations

from typing import Any

from ..claim import Claim
from .activations import CLAIMS as ACTIVATIONS
from .apriori import CLAIMS as APRIORI
from .convergence import CLAIMS as CONVERGENCE
from .defaults import CLAIMS as DEFAULTS
from .descent import CLAIMS as DESCENT
from .device_path import CLAIMS as DEVICE_PATH
from .dict_form import CLAIMS as DICT_FORM
from .distance import CLAIMS as DISTANCE
from .distance_init import CLAIMS as DISTANCE_INIT
from .drawn_state import CLAIMS as DRAWN_STATE
from .falsify import CLAIMS as FALSIFY
from .forward import CLAIMS as FORWARD
from .gradients import CLAIMS as GRADIENTS
from .init_and_data import CLAIMS as INIT_AND_DATA
from .loss_accuracy import CLAIMS as LOSS_ACCURACY
from .loss_scale import CLAIMS as LOSS_SCALE
from .loss_value import CLAIMS as LOSS_VALUE
from .matmul_accuracy import CLAIMS as MATMUL_ACCURACY
from .matmul_path import CLAIMS as MATMUL_PATH
from .metamorphic import CLAIMS as METAMORPHIC
from .minibatch import CLAIMS as MINIBATCH
from .observables import CLAIMS as OBSERVABLES
from .plugin_op import CLAIMS as PLUGIN_OP
from .records import CLAIMS as RECORDS
from .refusals import CLAIMS as REFUSALS
from .registered_regions import CLAIMS as REGISTERED_REGIONS
from .relu_gradients import CLAIMS as RELU_GRADIENTS
from .skip import CLAIMS as SKIP
from .updates import CLAIMS as UPDATES
from .weak_convergence import CLAIMS as WEAK_CONVERGENCE

BUILTIN: tuple[Claim, ...] = (
    *APRIORI,
    *DESCENT,
    *REGISTERED_REGIONS,
    *CONVERGENCE,
    *WEAK_CONVERGENCE,
    *GRADIENTS,
    *RELU_GRADIENTS,
    *LOSS_VALUE,
    *LOSS_ACCURACY,
    *UPDATES,
    *DRAWN_STATE,
    *DICT_FORM,
    *DEFAULTS,
    *FORWARD,
    *MATMUL_PATH,
    *MATMUL_ACCURACY,
    *LOSS_SCALE,
    *DISTANCE_INIT,
    *INIT_AND_DATA,
    *ACTIVATIONS,
    *PLUGIN_OP,
    *REFUSALS,
    *RECORDS,
    *DEVICE_PATH,
    *OBSERVABLES,
    *MINIBATCH,
    *METAMORPHIC,
    *DISTANCE,
    *FALSIFY,
    *SKIP,
)


def __getattr__(name: str) -> Any:
    """``CLAIMS`` (the built-ins, then every plugin's) and ``BY_ID``, built on first read."""
    if name not in ("CLAIMS", "BY_ID"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from descentcheck.registry.claims import plugin_claims

    claims = (*BUILTIN, *plugin_claims(c.id for c in BUILTIN))
    globals().update(CLAIMS=claims, BY_ID={c.id: c for c in claims})
    return globals()[name]


def reset() -> None:
    """Forget the loaded plugin claims: the next read of ``CLAIMS``/``BY_ID`` loads them again."""
    for name in ("CLAIMS", "BY_ID"):
        globals().pop(name, None)


__all__ = ["BUILTIN", "BY_ID", "CLAIMS", "reset"]
