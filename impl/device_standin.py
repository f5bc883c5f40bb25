"""A strict CPU stand-in for CuPy, so the device code path is exercised where there is no GPU.

CuPy keeps arrays on the GPU and refuses what would silently move them: a numpy array handed to a
CuPy function or mixed into an operation raises ``TypeError``, and so does an implicit conversion
of a device array to numpy. Its ufuncs take ``out=``, ``dtype=`` and ``casting=`` but not numpy's
``where=`` or ``order=``, and it offers a subset of numpy's functions. This module imitates those
rules over numpy arrays on the CPU, including that ``ufunc.reduce`` exists only for ``add`` and
``multiply`` (use the ``max``/``min`` methods) and ``reduceat`` only for ``add``. It is stricter
in two respects: a *numpy* function or ufunc applied to a device array raises (CuPy would dispatch
it to itself), so every call of the trainer's hot path provably goes through the array namespace;
and ``add.reduceat`` raises too, since CuPy computes it as differences of a running sum, which
loses the relative accuracy of a small segment beside a large one.

Which names exist, which are ufuncs and which keywords each function takes come from CuPy itself:
``impl/cupy_api.json`` was written from an installed CuPy by ``--dump-cupy-api`` (import
cupy needs no GPU), and ``tests/test_gpu.py`` checks it against the installed CuPy when there
is one. Arithmetic is numpy's (``exp`` and ``@`` the numpy backend's own, :func:`_host_exp`,
:func:`_host_matmul`), so results equal the numpy backend's bit for bit wherever the code does
the same operations on both.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NoReturn

import numpy as np

from .backend import Backend, get_backend, register_backend

API_FILE = Path(__file__).parent / "cupy_api.json"
API = json.loads(API_FILE.read_text())
UFUNC_KW = {"out", "dtype", "casting"}
REDUCE_KW = {"axis", "dtype", "out", "keepdims"}
TRANSFER_IN = {"asarray", "array"}  # the functions that take host data to the device


class DeviceLeak(TypeError):
    """Something the real CuPy would refuse (or that bypasses the array namespace)."""


def _unwrap(obj: Any, *, host_ok: bool = False) -> Any:
    if isinstance(obj, DeviceArray):
        return obj._a
    if isinstance(obj, np.ndarray):
        if host_ok:
            return obj
        raise DeviceLeak(
            f"a numpy array (shape {obj.shape}) met a device array: move it with xp.asarray"
        )
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unwrap(o, host_ok=host_ok) for o in obj)
    return obj


def _wrap(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return DeviceArray(obj)
    if isinstance(obj, np.generic) and not isinstance(obj, np.dtype):
        return DeviceArray(np.asarray(obj))  # CuPy's reductions give 0-d arrays, not scalars
    if isinstance(obj, tuple):
        return tuple(_wrap(o) for o in obj)
    return obj


def _check_kw(name: str, kwargs: dict, allowed: set[str] | None) -> None:
    if allowed is None:
        return
    bad = sorted(set(kwargs) - allowed)
    if bad:
        raise DeviceLeak(f"cupy.{name} takes no keyword {bad[0]!r}")


def _call(name: str, fn: Any, args: tuple, kwargs: dict, allowed: set[str] | None) -> Any:
    _check_kw(name, kwargs, allowed)
    host_ok = name in TRANSFER_IN
    a = _unwrap(args, host_ok=host_ok)
    k = {key: _unwrap(v, host_ok=host_ok) for key, v in kwargs.items()}
    out = fn(*a, **k)
    if name in TRANSFER_IN and isinstance(out, np.ndarray) and args and out is args[0]:
        out = out.copy()  # a transfer never aliases host memory
    return _wrap(out)


def _host_exp(x: np.ndarray, out: np.ndarray | None = None, **kw: Any) -> np.ndarray:
    """The numpy backend's ``exp`` (MKL's for large arrays where that backend takes it,
    :mod:`.ops.vector_math`), so that the stand-in keeps giving its bits."""
    from .ops import vector_math

    return np.exp(x, out=out, **kw) if kw else vector_math.exp(x, out=out)


def _host_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The numpy backend's product (MKL's for large float64 ones where that backend takes it,
    :mod:`.ops.blas`), so that the stand-in keeps giving its bits."""
    from .ops import blas

    return blas.matmul(a, b)


class _Ufunc:
    def __init__(self, name: str) -> None:
        self.name = name
        self._u = _host_exp if name == "exp" else getattr(np, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self.name, self._u, args, kwargs, UFUNC_KW)

    def reduce(self, *args: Any, **kwargs: Any) -> Any:
        if self.name not in ("add", "multiply"):
            raise NotImplementedError(f"`cupy_{self.name}.reduce` is not supported yet")
        return _call(f"{self.name}.reduce", self._u.reduce, args, kwargs, REDUCE_KW)

    def reduceat(self, *args: Any, **kwargs: Any) -> NoReturn:
        if self.name != "add":
            raise NotImplementedError(f"`cupy_{self.name}.reduceat` is not supported yet")
        raise DeviceLeak("cupy.add.reduceat differences a running sum: inaccurate, avoided")


class _Function:
    def __init__(self, name: str, info: dict | None) -> None:
        self.name = name
        self._f = getattr(np, name)
        self._kw = None if info is None or info["var_kw"] else set(info["params"])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self.name, self._f, args, kwargs, self._kw)


def _binary(op: Callable[[np.ndarray, Any], Any]) -> Callable[[DeviceArray, Any], Any]:
    def method(self: DeviceArray, other: Any) -> Any:
        return _wrap(op(self._a, _unwrap(other)))

    return method


def _inplace(op: Callable[[np.ndarray, Any], Any]) -> Callable[[DeviceArray, Any], DeviceArray]:
    def method(self: DeviceArray, other: Any) -> DeviceArray:
        op(self._a, _unwrap(other))
        return self

    return method


class DeviceArray:
    """An array "on the device": a numpy array behind CuPy's rules."""

    __slots__ = ("_a",)
    __array_priority__ = 1000

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> NoReturn:
        raise DeviceLeak("implicit conversion of a device array to numpy (use xp.asnumpy)")

    def __array_ufunc__(
        self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any
    ) -> NoReturn:
        raise DeviceLeak(f"numpy.{ufunc.__name__} called on a device array: use its namespace")

    def __array_function__(
        self,
        func: Callable[..., Any],
        types: Collection[type],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> NoReturn:
        raise DeviceLeak(f"numpy.{func.__name__} called on a device array: use its namespace")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # __array_interface__ & co. would hand numpy the host memory
            raise AttributeError(name)
        value = getattr(self._a, name)
        if callable(value):
            return lambda *a, **k: _wrap(
                value(*_unwrap(a), **{x: _unwrap(v) for x, v in k.items()})
            )
        return _wrap(value)

    def __repr__(self) -> str:
        return f"DeviceArray({self._a!r})"

    def get(self) -> np.ndarray:
        return self._a.copy()

    def __len__(self) -> int:
        return len(self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __complex__(self) -> complex:
        return complex(self._a)

    def __getitem__(self, key: Any) -> Any:
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[_unwrap(key)] = _unwrap(value)

    def __neg__(self) -> DeviceArray:
        return DeviceArray(-self._a)

    def __abs__(self) -> DeviceArray:
        return DeviceArray(abs(self._a))

    def __invert__(self) -> DeviceArray:
        return DeviceArray(~self._a)

    __add__ = _binary(lambda a, b: a + b)
    __radd__ = _binary(lambda a, b: b + a)
    __sub__ = _binary(lambda a, b: a - b)
    __rsub__ = _binary(lambda a, b: b - a)
    __mul__ = _binary(lambda a, b: a * b)
    __rmul__ = _binary(lambda a, b: b * a)
    __truediv__ = _binary(lambda a, b: a / b)
    __rtruediv__ = _binary(lambda a, b: b / a)
    __pow__ = _binary(lambda a, b: a**b)
    __matmul__ = _binary(_host_matmul)
    __rmatmul__ = _binary(lambda a, b: _host_matmul(b, a))
    __and__ = _binary(lambda a, b: a & b)
    __or__ = _binary(lambda a, b: a | b)
    __gt__ = _binary(lambda a, b: a > b)
    __ge__ = _binary(lambda a, b: a >= b)
    __lt__ = _binary(lambda a, b: a < b)
    __le__ = _binary(lambda a, b: a <= b)
    __eq__ = _binary(lambda a, b: a == b)  # type: ignore[assignment]
    __ne__ = _binary(lambda a, b: a != b)  # type: ignore[assignment]
    __hash__ = None  # type: ignore[assignment]
    __iadd__ = _inplace(np.ndarray.__iadd__)
    __isub__ = _inplace(np.ndarray.__isub__)
    __imul__ = _inplace(np.ndarray.__imul__)
    __itruediv__ = _inplace(np.ndarray.__itruediv__)


def _namespace() -> SimpleNamespace:
    ns: dict[str, Any] = {}
    for name in API["ufuncs"]:
        if isinstance(getattr(np, name, None), np.ufunc):
            ns[name] = _Ufunc(name)
    for name, info in API["functions"].items():
        if callable(getattr(np, name, None)) and name not in ns:
            ns[name] = _Function(name, info)
    for name in API["other"]:
        if hasattr(np, name):
            ns[name] = getattr(np, name)  # dtypes and constants
    ns["ndarray"] = DeviceArray
    ns["asnumpy"] = lambda a: _unwrap(a).copy() if isinstance(a, DeviceArray) else np.asarray(a)
    return SimpleNamespace(**ns)


xp = _namespace()
"""The stand-in namespace: ``xp.exp``, ``xp.add.reduce``, ``xp.asarray``, ... under CuPy's rules."""


def backend() -> Backend:
    return Backend(
        "device_standin", xp, DeviceArray, xp.asarray, xp.asnumpy, "CPU stand-in for CuPy"
    )


def register() -> None:
    """Make ``backend="device_standin"`` available to ``train`` and ``get_backend``."""
    register_backend("device_standin", backend)
    get_backend("device_standin")  # loaded now, so namespace() knows its arrays from the start


def dump_cupy_api(path: Path = API_FILE) -> None:
    """Write CuPy's names, ufuncs and keyword lists (run where CuPy is installed; no GPU needed)."""
    import inspect

    import cupy

    out: dict[str, Any] = {"version": cupy.__version__, "ufuncs": [], "functions": {}, "other": []}
    for name in sorted(dir(cupy)):
        if name.startswith("_"):
            continue
        obj = getattr(cupy, name)
        if isinstance(obj, cupy.ufunc):
            out["ufuncs"].append(name)
        elif callable(obj) and not isinstance(obj, type):
            try:
                sig = inspect.signature(obj)
            except (TypeError, ValueError):
                out["functions"][name] = None
                continue
            ps = sig.parameters.values()
            out["functions"][name] = {
                "params": [p.name for p in ps if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)],
                "var_kw": any(p.kind == p.VAR_KEYWORD for p in ps),
            }
        else:
            out["other"].append(name)
    out["generated_by"] = API["generated_by"]
    path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--dump-cupy-api"]:
        dump_cupy_api()
    else:
        sys.exit("usage: python -m descentcheck.impl.device_standin --dump-cupy-api")
