"""Data sets: ``.npz`` files, and built-ins (scikit-learn's bundled sets, small synthetic ones).

Conventions:

- A :class:`Dataset` holds ``x`` float64 (n, inputs) and ``y``: int64 labels (n,) in 0..K-1 when
  ``task == "classification"``, float64 targets (n, m) when ``task == "regression"`` (targets may
  also be one-hot rows or distributions; the loss in the spec decides what they mean). Its arrays
  are read-only.
- Built-ins are preprocessed: every input feature is standardised to zero mean and unit variance
  (population std, ddof 0); a constant feature (digits has a few always-blank pixels) is centred to
  exactly 0 and left unscaled, never divided by zero. Class labels become int64 0..K-1. The
  regression targets of real data (``diabetes``) are standardised the same way; synthetic targets
  (``sine``) are kept as generated, so they still read as sin(x). Each set's ``description`` says
  what was done.
- ``.npz`` files are used exactly as stored, only validated and converted to float64 / int64:
  the user's preprocessing is theirs, and a counterexample that ``verify`` saves must replay bit
  for bit. A float ``y`` of shape (n,) becomes (n, 1); an integer or bool ``y`` of shape (n,)
  holds labels (``n_classes`` = max + 1); an integer ``y`` of shape (n, m) is read as float targets.
- Synthetic sets come from ``numpy.random.default_rng(seed)``: same seed, same bits. The
  scikit-learn sets do not depend on the seed.
- ``source`` names a built-in if, lower-cased with ``-`` read as ``_``, it is one of
  :data:`BUILTIN_DATASETS`; anything else is a file path (write ``./iris`` for a file of that name).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backend import as_float64
from .errors import DataError, did_you_mean
from .io import PathLike, exists, load_npz, save_npz_atomic

Array = np.ndarray
TASKS = ("classification", "regression")


@dataclass(frozen=True, eq=False)
class Dataset:
    """One data set, ready to train on (conventions in the module docstring)."""

    x: Array
    y: Array
    name: str
    task: str
    n_classes: int | None
    description: str

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def inputs(self) -> int:
        return int(self.x.shape[1])

    @property
    def outputs(self) -> int:
        """The output width a network needs: K classes, or the target width m (1 for (n,))."""
        if self.n_classes is not None:
            return self.n_classes
        return int(self.y.shape[1]) if self.y.ndim == 2 else 1


def _frozen(a: Array) -> Array:
    a.setflags(write=False)
    return a


def _make(
    x: Array, y: Array, name: str, task: str, n_classes: int | None, description: str
) -> Dataset:
    return Dataset(_frozen(x), _frozen(y), name, task, n_classes, description)


# ---- preprocessing -------------------------------------------------------------------------


def standardize(a: Array) -> tuple[Array, int]:
    """Each column to zero mean and unit variance (ddof 0); constant columns centred to exactly
    0 and not scaled. Returns the new float64 array and the number of constant columns."""
    a = np.asarray(a, dtype=np.float64)
    constant = np.ptp(a, axis=0) == 0
    centred = a - a.mean(axis=0)
    # the mean of equal floats need not equal them exactly, so constant columns are zeroed
    centred[:, constant] = 0.0
    std = centred.std(axis=0)
    std[constant] = 1.0
    return centred / std, int(constant.sum())


def _labels(y: Array) -> tuple[Array, int]:
    classes, labels = np.unique(y, return_inverse=True)
    return labels.astype(np.int64).reshape(-1), len(classes)


def _inputs_note(d: int, n_constant: int) -> str:
    note = f"{d} inputs standardised (zero mean, unit variance)"
    if n_constant:
        note += f"; {n_constant} constant input{'s' if n_constant > 1 else ''} centred only"
    return note


def _classification(name: str, what: str, x_raw: Array, y_raw: Array) -> Dataset:
    x, n_constant = standardize(x_raw)
    y, k = _labels(y_raw)
    inputs = _inputs_note(x.shape[1], n_constant)
    desc = f"{name}: {what}, {len(x)} samples; {inputs}; labels 0..{k - 1}"
    return _make(x, y, name, "classification", k, desc)


# ---- built-ins -----------------------------------------------------------------------------
# scikit-learn is imported inside each loader: importing sklearn.datasets takes about a second,
# which every `import descentcheck` would otherwise pay.


def _sklearn_classification(name: str, what: str) -> Callable[[int], Dataset]:
    def load(seed: int) -> Dataset:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{name}")()
        return _classification(name, what, bunch.data, bunch.target)

    return load


def _diabetes(seed: int) -> Dataset:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    x, n_constant = standardize(bunch.data)
    y, _ = standardize(bunch.target.reshape(-1, 1))
    desc = (
        f"diabetes: disease progression after one year (scikit-learn), {len(x)} samples; "
        f"{_inputs_note(x.shape[1], n_constant)}; target standardised, shape (n, 1)"
    )
    return _make(x, y, "diabetes", "regression", None, desc)


def _xor(seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    corners = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    raw = np.repeat(corners, 50, axis=0) + rng.normal(0.0, 0.3, size=(200, 2))
    raw = raw[rng.permutation(200)]
    # labelled by the point's own signs, not its blob's, so the labels are a function of x
    labels = (np.sign(raw[:, 0]) != np.sign(raw[:, 1])).astype(np.int64)
    x, _ = standardize(raw)
    desc = (
        "xor: 200 points, 4 Gaussian blobs (sd 0.3) at (±1, ±1), label 1 where the point's "
        "two coordinates differ in sign; 2 inputs standardised (zero mean, unit variance)"
    )
    return _make(x, labels, "xor", "classification", 2, desc)


def _spirals(seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(2, dtype=np.int64), 100)
    # arm k at angle theta has radius theta; the two arms lie pi apart, so sd 0.2 noise keeps
    # the classes apart while the task still needs a curved boundary
    theta = rng.uniform(np.pi / 2, 3 * np.pi, size=200)
    angle = theta + np.pi * labels
    raw = theta[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    raw += rng.normal(0.0, 0.2, size=raw.shape)
    order = rng.permutation(200)
    x, _ = standardize(raw[order])
    desc = (
        "spirals: 200 points on two interleaved spirals (radius = angle in [π/2, 3π], arms π "
        "apart, noise sd 0.2), labels 0..1; 2 inputs standardised (zero mean, unit variance)"
    )
    return _make(x, labels[order], "spirals", "classification", 2, desc)


def _sine(seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    raw = rng.uniform(-np.pi, np.pi, size=(200, 1))
    y = np.sin(raw) + rng.normal(0.0, 0.1, size=(200, 1))
    x, _ = standardize(raw)
    desc = (
        "sine: 200 points, x uniform in [-π, π], y = sin(x) + noise (sd 0.1), shape (n, 1); "
        "input standardised, target not rescaled"
    )
    return _make(x, y, "sine", "regression", None, desc)


@dataclass(frozen=True)
class _Builtin:
    load: Callable[[int], Dataset]
    task: str
    n: int
    inputs: int
    outputs: int
    source: str


_BUILTINS: dict[str, _Builtin] = {
    "digits": _Builtin(
        _sklearn_classification("digits", "8x8 images of handwritten digits (scikit-learn)"),
        "classification", 1797, 64, 10, "scikit-learn, bundled",
    ),
    "iris": _Builtin(
        _sklearn_classification("iris", "iris flowers (scikit-learn)"),
        "classification", 150, 4, 3, "scikit-learn, bundled",
    ),
    "wine": _Builtin(
        _sklearn_classification("wine", "wine cultivars (scikit-learn)"),
        "classification", 178, 13, 3, "scikit-learn, bundled",
    ),
    "breast_cancer": _Builtin(
        _sklearn_classification("breast_cancer", "breast tumours, 0 malignant (scikit-learn)"),
        "classification", 569, 30, 2, "scikit-learn, bundled",
    ),
    "diabetes": _Builtin(_diabetes, "regression", 442, 10, 1, "scikit-learn, bundled"),
    "xor": _Builtin(_xor, "classification", 200, 2, 2, "synthetic, from seed"),
    "spirals": _Builtin(_spirals, "classification", 200, 2, 2, "synthetic, from seed"),
    "sine": _Builtin(_sine, "regression", 200, 1, 1, "synthetic, from seed"),
}  # fmt: skip

BUILTIN_DATASETS: tuple[str, ...] = tuple(_BUILTINS)


def describe_builtins(preprocessing: bool = False) -> str:
    """A small plain-text table of the built-in data sets; with ``preprocessing``, each set's
    description below it (what is standardised, what is not: it loads each set)."""
    rows = [("name", "task", "n", "inputs", "outputs", "source")]
    rows += [
        (name, b.task, str(b.n), str(b.inputs), str(b.outputs), b.source)
        for name, b in _BUILTINS.items()
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = [("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()) for r in rows]
    if preprocessing:
        table += ["", *(f"{b.load(0).description}" for b in _BUILTINS.values())]
    return "\n".join(table)


# ---- files ---------------------------------------------------------------------------------


def _first_bad_row(a: Array) -> int | None:
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    return int(np.argwhere(bad)[0][0])


def check_arrays(x: Array, y: Array, where: str = "data") -> tuple[Array, Array, int | None]:
    """Validate ``x`` and ``y`` as a data file holds them; return float64 ``x`` (n, d), ``y``
    (int64 labels (n,), float64 (n,) or (n, m)) and the number of classes (None for float
    targets).

    Raises :class:`DataError`, its message starting with ``where``."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind not in "fiu":
        raise DataError(f"{where}: x has dtype {x.dtype}, expected real numbers")
    if y.dtype.kind not in "fiub":
        raise DataError(f"{where}: y has dtype {y.dtype}, expected real numbers")
    if x.ndim != 2:
        raise DataError(f"{where}: x has shape {x.shape}, expected 2-D (n, inputs)")
    n, d = x.shape
    if n == 0:
        raise DataError(f"{where}: the data set is empty (x has 0 rows)")
    if d == 0:
        raise DataError(f"{where}: x has 0 columns (no inputs)")
    if y.ndim not in (1, 2):
        raise DataError(f"{where}: y has shape {y.shape}, expected (n,) or (n, outputs)")
    if len(y) != n:
        raise DataError(f"{where}: y has {len(y)} rows but x has {n}")
    x = as_float64(x, DataError, f"{where}: x is")
    row = _first_bad_row(x)
    if row is not None:
        raise DataError(f"{where}: x contains NaN or inf (first at row {row})")
    if y.ndim == 1 and y.dtype.kind in "iub":
        labels = y.astype(np.int64)
        if labels.min() < 0:
            row = int(np.argmax(labels < 0))
            raise DataError(f"{where}: y holds a negative label {labels[row]} (row {row})")
        return x, labels, int(labels.max()) + 1
    # (n,) float targets stay (n,): the loss decides what they are (Network.check_targets:
    # one output's numbers for a "values" loss, refused where labels are due)
    y = as_float64(y, DataError, f"{where}: y is")
    if y.ndim == 2 and y.shape[1] == 0:
        raise DataError(f"{where}: y has 0 columns")
    row = _first_bad_row(y)
    if row is not None:
        raise DataError(f"{where}: y contains NaN or inf (first at row {row})")
    return x, y, None


def _from_file(path: Path) -> Dataset:
    arrays = load_npz(path, "data")
    for key in ("x", "y"):
        if key not in arrays:
            found = ", ".join(repr(k) for k in arrays)
            raise DataError(f"data file {path} has no array {key!r} (found {found})")
    x, y, k = check_arrays(arrays["x"], arrays["y"], where=f"data file {path}")
    if k is not None:
        task, target = "classification", f"labels 0..{k - 1}"
    else:
        task, target = "regression", f"targets of shape {y.shape}"
    desc = f"{path.name}: {x.shape[0]} samples, {x.shape[1]} inputs, {target}; used as stored"
    return _make(x, y, path.name, task, k, desc)


def save_data(path: PathLike, x: Array, y: Array) -> None:
    """Save ``x`` and ``y`` as a data file (``.npz`` with keys ``x``, ``y``) atomically.

    They are validated first, as :func:`load_data` would, so a file it writes always loads;
    the arrays are stored as given (dtype and shape)."""
    check_arrays(x, y, where=f"data for {path}")
    save_npz_atomic(path, {"x": np.asarray(x), "y": np.asarray(y)})


def resolve_source(source: str | Path, base: str | Path = ".") -> tuple[str, str]:
    """``("builtin", name)`` or ``("file", path)`` for a data source, a path relative to ``base``
    (the rule is the module docstring's). A bare word that is no file is a mistyped name, not a
    missing file, and raises :class:`DataError`."""
    key = str(source).strip().lower().replace("-", "_")
    if isinstance(source, str) and not key:  # Path("") is the base: "data file . is a directory"
        raise DataError("the data source is empty: give a built-in's name or an .npz file's path")
    if isinstance(source, str) and key in _BUILTINS:
        return "builtin", key
    path = Path(base) / source
    if not exists(path) and path.suffix == "" and len(Path(source).parts) == 1:
        raise DataError(
            f"unknown data set {str(source)!r}: not a file (looked in {Path(base).resolve()}), "
            f"and not a built-in ({', '.join(BUILTIN_DATASETS)}){did_you_mean(key, _BUILTINS)}"
        )
    return "file", str(path)


def load_data(source: str | Path, seed: int = 0) -> Dataset:
    """A built-in data set by name or an ``.npz`` file by path (conventions in the module
    docstring). ``seed`` drives the synthetic sets only.

    Raises :class:`DataError` with a one-line message for an unknown name or a bad file."""
    if not isinstance(source, str | os.PathLike):
        raise DataError(
            f"a data source is a built-in's name or a path, got {type(source).__name__}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise DataError(f"the data seed must be a non-negative integer, got {seed!r}")
    kind, name = resolve_source(source)
    return _BUILTINS[name].load(seed) if kind == "builtin" else _from_file(Path(name))
