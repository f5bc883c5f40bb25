"""Hypothesis's draws made independent of which source files happen to be "local".

Since version 6.131 Hypothesis's default provider draws about one choice in 20 from a pool of
literal constants, half of them collected from the source of every imported *local* module (a
file outside site-packages and the standard library, and not a test file). Installed from a wheel
(tox) no descentcheck module is local; installed from a checkout (``pip install -e .``) every one
is. So the same seed drew other cases in a checkout than in tox, and any literal added to any
module moved the cases of every property test and claim: a new module with a few constants
(``impl/ops/blas.py``) took ``weight-path-bounded``'s tested runs from 46 to 38 of 50 in a
checkout, under its floor of 40, while tox's stayed where they were. A user's own local modules
(a plugin under development) would do the same to their ``verify`` runs.

:func:`ignore_local_constants` empties that pool (Hypothesis's fixed global constants stay), so
that a seed draws the same cases however descentcheck and its plugins are installed;
:mod:`.profiles` calls it when it registers the settings profiles, which every claim run and
property test reads. It patches a
private function of Hypothesis (``providers._get_local_constants``); where a Hypothesis has no
such function it changes nothing and says so (False), and ``tests/test_local_constants.py`` checks
that a local module's constants leave the draws unchanged.
"""

from __future__ import annotations


def ignore_local_constants() -> bool:
    """Make Hypothesis's provider see no local constants in this process; True if it could."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - a Hypothesis without the module has no such pool
        return False
    if not (hasattr(providers, "_get_local_constants") and hasattr(providers, "Constants")):
        return False
    empty = providers.Constants()
    providers._get_local_constants = lambda: empty
    return True
