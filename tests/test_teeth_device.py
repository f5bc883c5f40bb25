"""The device-path claim catches the mutation run's two device-only survivors.

Both change nothing on numpy arrays, so every other claim passes them; on the strict CuPy
stand-in one calls numpy on a device array and the other takes a complex loss for a real one:

- ``impl/optim/base.py`` (``Layout.of``): a device array's size read through ``numpy.size``;
- ``impl/network.py`` (``loss_and_grad``): the loss's kind read from ``isinstance(E, complex)``
  instead of its dtype;
- ``impl/optim/adaptive_momentum.py`` (the full run): the dict form's array sizes as
  ``stops + starts``, read only by the device path's per-array slices.
"""

from __future__ import annotations

import importlib
from dataclasses import replace

import pytest
from planting import plant

from descentcheck.impl.network import Network
from descentcheck.impl.optim.base import Layout
from descentcheck.properties import BY_ID, get_profile
from descentcheck.properties.runner import run_claim

pytestmark = pytest.mark.teeth
CLAIM = "device-path-equals-numpy-path"


@pytest.fixture()
def profile(tmp_path):
    return replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)


OPTIM = importlib.import_module("descentcheck.impl.optim")  # the registry's factories live here
SIZES = "sizes = np.asarray(layout.stops, dtype=np.intp) {} starts\n        groups = _Groups(names,"

MUTANTS = {
    # the full mutation run: the dict form's array sizes as stops + starts, which only the
    # device path's per-array slices read (numpy's reduceat reads the starts)
    "sizes_plus_starts": (OPTIM, "adaptive_momentum", SIZES.format("-"), SIZES.format("+")),
    # the full run: the device path's per-array slices lost
    "device_bounds_none": (
        importlib.import_module("descentcheck.impl.optim.adaptive_momentum"),
        "sumsq_per_array",
        "bounds = zip(starts.tolist(), (starts + sizes).tolist())",
        "bounds = None",
    ),
    "size_through_numpy": (Layout, "of", 'hasattr(v, "size")', 'hasattr(v, "XXsizeXX")'),
    "loss_kind_from_isinstance": (
        Network,
        "loss_and_grad",
        'E.dtype if hasattr(E, "dtype")',
        'E.dtype if hasattr(E, "XXdtypeXX")',
    ),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_a_device_only_bug_is_caught(monkeypatch, profile, mutant):
    owner, name, old, new = MUTANTS[mutant]
    plant(monkeypatch, owner, name, (old, new))
    entry = run_claim(BY_ID[CLAIM], profile)
    assert entry["outcome"] == "falsified", entry
    assert not entry["meets_expectation"]


def test_the_claim_holds_and_reaches_minibatches_and_the_matmul_path(profile):
    entry = run_claim(BY_ID[CLAIM], replace(profile, examples=150))  # 30 cases: shares
    assert entry["meets_expectation"], entry
    measured, n = entry["measured"], entry["examples"]
    assert measured["runs_compared"] == 9 * n  # every setting of every case
    assert measured["minibatch_cases"] >= 0.25 * n, measured
    assert measured["matmul_cases"] >= 0.1 * n, measured
