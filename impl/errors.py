"""The reference trainer's errors for bad input: :mod:`descentcheck.errors`, where the
numpy-free registries and theory read them too (re-exported here for ``impl``'s modules)."""

from descentcheck.errors import (
    BackendError,
    DataError,
    DescentcheckError,
    GradcheckError,
    HyperparameterError,
    ParamsError,
    SpecError,
    did_you_mean,
    located,
    one_line,
    params_mapping,
)

__all__ = [
    "BackendError",
    "DataError",
    "DescentcheckError",
    "GradcheckError",
    "HyperparameterError",
    "ParamsError",
    "SpecError",
    "did_you_mean",
    "located",
    "one_line",
    "params_mapping",
]
