"""Array backends: the same trainer code on NumPy (CPU, the default) or CuPy (an NVIDIA GPU).

There is one implementation. Every routine on the training path (layers, losses, optimizers, the
training loop) takes its array functions from ``xp = namespace(a)``, the namespace of the arrays
it is handed -- ``numpy`` for numpy arrays, ``cupy`` for cupy arrays, the idiom of
``cupy.get_array_module`` -- and never from ``numpy`` directly. Both are float64 throughout.

What stays on the host, in numpy, whatever the backend: spec and data validation, parameter
initialisation (numpy's RNG, so both backends start from the same bits), the minibatch order,
per-group norms of adaptive momentum (one number per parameter array), and the trajectory.

The rules that keep the shared code valid on CuPy, which a strict CPU stand-in for CuPy enforces in
the tests and the ledger (:mod:`descentcheck.impl.device_standin`): no numpy array is mixed with a
device array; no implicit conversion of a device array to numpy (values come back through
``float``, ``bool``, ``.tolist`` or :meth:`Backend.to_host`); ufuncs take ``out=`` but not numpy's
``where=`` or ``order=``.

The backends' results agree to rounding, not to the bit: cuBLAS and CuPy's reductions add in other
orders than OpenBLAS and numpy. The GPU tests require 1e-10 relative agreement with the CPU path.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .errors import BackendError

BACKENDS = ("numpy", "cupy")
"""The built-in backends; ``numpy`` is the default."""


@dataclass(frozen=True)
class Backend:
    """An array namespace with its host transfers: ``to_device`` takes numpy arrays to ``xp``,
    ``to_host`` brings ``xp`` arrays back as numpy arrays; ``device`` says where it computes."""

    name: str
    xp: Any
    array_type: type
    to_device: Callable[[Any], Any]
    to_host: Callable[[Any], np.ndarray]
    device: str


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return "CPU: " + line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU: " + (platform.processor() or platform.machine() or "unknown")


def _numpy_backend() -> Backend:
    return Backend("numpy", np, np.ndarray, np.asarray, np.asarray, _cpu_name())


def _cupy_backend() -> Backend:
    try:
        import cupy
    except ImportError as e:
        raise BackendError(
            "backend 'cupy' needs CuPy (its extra: pip install -e '.[gpu]' in descentcheck's "
            f"checkout): {e}"
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        if count < 1:
            raise BackendError("backend 'cupy' needs a CUDA GPU, and none is visible")
        dev = cupy.cuda.Device()
        props = cupy.cuda.runtime.getDeviceProperties(dev.id)
        name = props["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
    except BackendError:
        raise
    except Exception as e:  # CUDARuntimeError and friends: no driver, no device
        msg = " ".join(str(e).split()) or type(e).__name__
        raise BackendError(f"backend 'cupy' cannot use a CUDA GPU here: {msg}") from None
    return Backend("cupy", cupy, cupy.ndarray, cupy.asarray, cupy.asnumpy, f"GPU {dev.id}: {name}")


_FACTORIES: dict[str, Callable[[], Backend]] = {"numpy": _numpy_backend, "cupy": _cupy_backend}
_LOADED: dict[str, Backend] = {}
_BY_TYPE: dict[type, ModuleType | Any] = {np.ndarray: np}


def register_backend(name: str, factory: Callable[[], Backend]) -> None:
    """Make another numpy-like namespace available by name (the tests register a CPU stand-in
    for CuPy this way)."""
    _FACTORIES[name] = factory
    _LOADED.pop(name, None)


def get_backend(name: str | Backend = "numpy") -> Backend:
    """The backend called ``name``; a :class:`BackendError` with the reason when it cannot run."""
    if isinstance(name, Backend):
        # loaded like a named one, so namespace() and to_host() know its arrays
        _LOADED.setdefault(f"<{name.name}>", name)
        _BY_TYPE.setdefault(name.array_type, name.xp)
        return name
    if name not in _FACTORIES:
        raise BackendError(f"unknown backend {name!r}; known: {', '.join(_FACTORIES)}")
    if name not in _LOADED:
        be = _FACTORIES[name]()
        _LOADED[name] = be
        _BY_TYPE[be.array_type] = be.xp
    return _LOADED[name]


def _backend_of(t: type) -> Backend | None:
    """The loaded backend whose arrays are of type ``t``, loading CuPy's for a cupy array."""
    for be in _LOADED.values():
        if issubclass(t, be.array_type):
            return be
    if t.__module__.split(".", 1)[0] == "cupy" and "cupy" in sys.modules:
        return get_backend("cupy")
    return None


def namespace(a: Any) -> Any:
    """The array namespace of ``a``: numpy for numpy arrays and Python or numpy scalars, the
    backend's module for its arrays."""
    xp = _BY_TYPE.get(type(a))
    if xp is not None:
        return xp
    be = _backend_of(type(a))
    if be is None:
        return np
    _BY_TYPE[type(a)] = be.xp
    return be.xp


def to_host(a: Any) -> np.ndarray:
    """``a`` as a numpy array, copied from the device when it lives on one."""
    if type(a) is np.ndarray:
        return a
    be = _backend_of(type(a))
    return np.asarray(a) if be is None else be.to_host(a)


def as_float64(a: np.ndarray, error: type[Exception], what: str) -> np.ndarray:
    """Real numbers ``a`` as float64, refusing a cast that would change a value (a float128's
    extra digits, an integer beyond 2^53) in one line, as a complex array is refused: the
    reference trainer computes in float64, and rounding silently would train other numbers
    than the ones given (``what``: "parameter 'out.W'")."""
    if a.dtype == np.float64:
        return a
    out = a.astype(np.float64)
    if a.dtype.itemsize < 8 or (a.dtype.kind == "f" and a.dtype.itemsize == 8):
        return out  # float16/32 and integers of 32 bits or fewer are float64 numbers exactly
    with np.errstate(invalid="ignore", over="ignore"):
        changed = out.astype(a.dtype) != a
    if a.dtype.kind == "f":
        changed &= ~np.isnan(a)  # NaN is refused later, by name
    if changed.any():
        first = a[np.unravel_index(int(np.argmax(changed)), a.shape)]
        if a.dtype.kind == "f":  # all its digits: str() of a float128 prints 1 + 2^-60 as 1.0
            first = np.format_float_scientific(first, unique=True)
        raise error(
            f"{what} of dtype {a.dtype}, and {int(changed.sum())} of its values change when "
            f"rounded to float64 (first: {first}); round them to float64 yourself"
        )
    return out


def host_array(a: Any, error: type[Exception], what: str) -> np.ndarray:
    """:func:`to_host`, where a list numpy cannot make one array of (rows of different lengths)
    is ``error`` in one line instead of numpy's ``ValueError`` (``what``: "inputs x are"). A
    masked array with masked entries is refused: numpy hands over the values under its mask."""
    if isinstance(a, np.ma.MaskedArray) and (masked := int(np.ma.count_masked(a))):
        raise error(
            f"{what} a masked array with {masked} masked entries, whose values would be read as "
            "data: fill or drop them first"
        )
    try:
        return to_host(a)
    except (ValueError, TypeError):
        raise error(f"{what} not a rectangular array (rows of different lengths?)") from None
    except Exception as e:  # a framework's refusal: torch's "Can't call numpy() on Tensor that
        # requires grad" was a RuntimeError from inside torch (held-out audit)
        from .errors import one_line

        raise error(
            f"{what} not readable as an array ({one_line(e)}); convert it to a numpy array "
            "first (torch: .detach().numpy())"
        ) from None
