"""Built-in data sets and data files: shapes, preprocessing, determinism, and every bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from descentcheck.impl.data import (
    BUILTIN_DATASETS,
    Dataset,
    check_arrays,
    describe_builtins,
    load_data,
    save_data,
    standardize,
)
from descentcheck.impl.errors import DataError
from descentcheck.impl.io import save_npz_atomic

SHAPES = {  # name: (n, inputs, task, n_classes or target width)
    "digits": (1797, 64, "classification", 10),
    "iris": (150, 4, "classification", 3),
    "wine": (178, 13, "classification", 3),
    "breast_cancer": (569, 30, "classification", 2),
    "diabetes": (442, 10, "regression", 1),
    "xor": (200, 2, "classification", 2),
    "spirals": (200, 2, "classification", 2),
    "sine": (200, 1, "regression", 1),
}
SYNTHETIC = ("xor", "spirals", "sine")


def _message(e: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


@pytest.fixture(scope="module")
def builtins() -> dict[str, Dataset]:
    return {name: load_data(name) for name in BUILTIN_DATASETS}


def test_builtin_names_are_the_documented_ones() -> None:
    assert set(BUILTIN_DATASETS) == set(SHAPES)


@pytest.mark.parametrize("name", list(SHAPES))
def test_builtin_shapes_dtypes_and_labels(builtins: dict[str, Dataset], name: str) -> None:
    d = builtins[name]
    n, inputs, task, width = SHAPES[name]
    assert (d.name, d.task, d.n, d.inputs, d.outputs) == (name, task, n, inputs, width)
    assert d.x.dtype == np.float64 and d.x.shape == (n, inputs)
    if task == "classification":
        assert d.n_classes == width
        assert d.y.dtype == np.int64 and d.y.shape == (n,)
        assert set(np.unique(d.y)) == set(range(width))
    else:
        assert d.n_classes is None
        assert d.y.dtype == np.float64 and d.y.shape == (n, width)
    assert np.isfinite(d.x).all() and np.isfinite(d.y).all()
    assert "\n" not in d.description and "standardised" in d.description
    assert not d.x.flags.writeable and not d.y.flags.writeable


@pytest.mark.parametrize("name", list(SHAPES))
def test_builtin_inputs_are_standardised(builtins: dict[str, Dataset], name: str) -> None:
    x = builtins[name].x
    constant = np.ptp(x, axis=0) == 0
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(x.std(axis=0)[~constant], 1.0, rtol=1e-12)
    assert (x[:, constant] == 0.0).all()


def test_digits_constant_pixels_are_centred_not_divided(builtins: dict[str, Dataset]) -> None:
    d = builtins["digits"]
    constant = np.ptp(d.x, axis=0) == 0
    assert constant.sum() >= 1
    assert f"{constant.sum()} constant inputs centred only" in d.description


def test_diabetes_target_is_standardised(builtins: dict[str, Dataset]) -> None:
    y = builtins["diabetes"].y
    np.testing.assert_allclose([y.mean(), y.std()], [0.0, 1.0], atol=1e-12)


def test_synthetic_sets_match_their_definitions(builtins: dict[str, Dataset]) -> None:
    xor = builtins["xor"]
    # standardising shifts the axes by the (small) sample mean, so compare away from them
    far = np.abs(xor.x).min(axis=1) > 0.2
    assert far.sum() > 150
    np.testing.assert_array_equal(
        xor.y[far], (np.sign(xor.x[far, 0]) != np.sign(xor.x[far, 1])).astype(int)
    )
    assert np.bincount(builtins["spirals"].y).tolist() == [100, 100]
    sine = builtins["sine"]
    # x is standardised, so recover sin's argument up to scale: residuals stay near the noise sd
    raw = sine.x[:, 0] * (np.pi / np.sqrt(3))  # std of U(-pi, pi)
    assert np.abs(sine.y[:, 0] - np.sin(raw)).mean() < 0.2


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_sets_are_deterministic_in_the_seed(name: str) -> None:
    a, b, c = load_data(name, seed=7), load_data(name, seed=7), load_data(name, seed=8)
    assert a.x.tobytes() == b.x.tobytes() and a.y.tobytes() == b.y.tobytes()
    assert a.x.tobytes() != c.x.tobytes()


def test_real_sets_ignore_the_seed() -> None:
    assert load_data("iris", seed=0).x.tobytes() == load_data("iris", seed=5).x.tobytes()


def test_names_are_case_and_dash_insensitive() -> None:
    assert load_data("Breast-Cancer").name == "breast_cancer"


def test_standardize_constant_column_is_exactly_zero() -> None:
    a = np.array([[0.1, 1.0], [0.1, 2.0], [0.1, 3.0]])
    z, n_constant = standardize(a)
    assert n_constant == 1
    assert (z[:, 0] == 0.0).all()
    np.testing.assert_allclose(z[:, 1], [-np.sqrt(1.5), 0.0, np.sqrt(1.5)])


def test_describe_builtins_lists_every_set() -> None:
    table = describe_builtins()
    lines = table.splitlines()
    assert lines[0].split()[0] == "name" and len(lines) == len(BUILTIN_DATASETS) + 1
    for name, line in zip(BUILTIN_DATASETS, lines[1:]):
        assert line.split()[0] == name


# ---- files ---------------------------------------------------------------------------------


def test_file_round_trip_is_used_as_stored(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, size=(10, 3))
    path = tmp_path / "d.npz"
    save_data(path, x, rng.integers(0, 4, size=10))
    d = load_data(path)
    assert d.x.tobytes() == x.tobytes()  # no standardising of user files
    assert d.task == "classification" and d.y.dtype == np.int64
    assert d.n_classes == int(d.y.max()) + 1
    assert d.name == "d.npz" and "as stored" in d.description
    assert load_data(str(path)).x.tobytes() == x.tobytes()


@pytest.mark.parametrize(
    "y, shape",
    [(np.linspace(0, 1, 4), (4,)), (np.ones((4, 2)), (4, 2)), (np.eye(4, 3, dtype=int), (4, 3))],
)
def test_file_float_targets_keep_their_shape(tmp_path: Path, y: np.ndarray, shape: tuple) -> None:
    """As stored: (n,) float targets stay (n,), and the loss decides what they are
    (``Network.check_targets``); made (n, 1) here, they passed a labels loss's refusal."""
    path = tmp_path / "r.npz"
    save_data(path, np.zeros((4, 2)), y)
    d = load_data(path)
    assert d.task == "regression" and d.n_classes is None
    assert d.y.dtype == np.float64 and d.y.shape == shape


def test_unknown_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as e:
        load_data("foo")
    assert _message(e).startswith(
        f"unknown data set 'foo': not a file (looked in {tmp_path.resolve()}),"
    )
    assert "and not a built-in (digits," in _message(e)
    with pytest.raises(DataError, match="did you mean 'spirals'"):
        load_data("spiral")


def test_a_file_named_like_a_word_is_still_loadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    save_data(tmp_path / "mine", np.zeros((2, 1)), np.zeros(2))
    assert load_data("mine").n == 2


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found") as e:
        load_data(tmp_path / "gone.npz")
    assert "gone.npz" in _message(e)
    with pytest.raises(DataError, match="is a directory"):
        load_data(tmp_path)


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(np.random.default_rng(0).bytes(64))
    with pytest.raises(DataError, match=r"is not an \.npz archive") as e:
        load_data(path)
    assert str(path) in _message(e)


def test_pickled_object_array(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.zeros((2, 1)), y=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="pickled object array 'y'"):
        load_data(path)


@pytest.mark.parametrize("key", ["x", "y"])
def test_missing_key(tmp_path: Path, key: str) -> None:
    path = tmp_path / "d.npz"
    arrays = {"x": np.zeros((3, 2)), "y": np.zeros(3), "X": np.zeros(1)}
    del arrays[key]
    save_npz_atomic(path, arrays)
    with pytest.raises(DataError) as e:
        load_data(path)
    assert f"has no array '{key}'" in _message(e)
    assert str(path) in _message(e)


NAN = "contains NaN or inf (first at row"
BAD = {  # case: (x, y, words in the message)
    "x 1-D": (np.zeros(4), np.zeros(4), "x has shape (4,), expected 2-D"),
    "x 3-D": (np.zeros((4, 1, 1)), np.zeros(4), "x has shape (4, 1, 1)"),
    "y 3-D": (np.zeros((4, 1)), np.zeros((4, 1, 1)), "y has shape (4, 1, 1)"),
    "rows": (np.zeros((4, 1)), np.zeros(3), "y has 3 rows but x has 4"),
    "empty": (np.zeros((0, 2)), np.zeros(0), "empty"),
    "no columns": (np.zeros((3, 0)), np.zeros(3), "0 columns"),
    "nan x": (np.array([[0], [1], [np.nan], [np.inf]]), np.zeros(4), f"x {NAN} 2)"),
    "inf y": (np.zeros((3, 1)), np.array([0, -np.inf, 1]), f"y {NAN} 1)"),
    "str x": (np.array([["a"], ["b"]]), np.zeros(2), "x has dtype <U1, expected real numbers"),
    "complex y": (np.zeros((2, 1)), np.zeros(2, dtype=complex), "y has dtype complex128, expected real numbers"),
    "negative label": (np.zeros((3, 1)), np.array([0, -1, 1]), "negative label -1 (row 1)"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_arrays_in_a_file(tmp_path: Path, case: str) -> None:
    x, y, words = BAD[case]
    path = tmp_path / "bad.npz"
    save_npz_atomic(path, {"x": x, "y": y})
    with pytest.raises(DataError) as e:
        load_data(path)
    msg = _message(e)
    assert words in msg
    assert msg.startswith(f"data file {path}: ")


@pytest.mark.parametrize("case", list(BAD))
def test_save_data_refuses_what_load_data_would(tmp_path: Path, case: str) -> None:
    x, y, _ = BAD[case]
    with pytest.raises(DataError, match="data for "):
        save_data(tmp_path / "bad.npz", x, y)
    assert not (tmp_path / "bad.npz").exists()


def test_check_arrays_converts_ints_and_bools() -> None:
    x, y, k = check_arrays(np.arange(6).reshape(3, 2), np.array([True, False, True]))
    assert x.dtype == np.float64 and y.dtype == np.int64 and k == 2


def test_resolve_source_names_a_builtin_or_a_file_relative_to_a_base(tmp_path: Path) -> None:
    from descentcheck.impl.data import resolve_source

    (tmp_path / "iris").write_bytes(b"")
    assert resolve_source(" Breast-Cancer ") == ("builtin", "breast_cancer")
    assert resolve_source("iris", tmp_path) == ("builtin", "iris")  # a name beats a file
    assert resolve_source("./iris", tmp_path) == ("file", str(tmp_path / "iris"))
    assert resolve_source(Path("iris"), tmp_path) == ("file", str(tmp_path / "iris"))
    assert resolve_source("d/x.npz", tmp_path) == ("file", str(tmp_path / "d" / "x.npz"))
    with pytest.raises(DataError, match="did you mean 'digits'") as e:
        resolve_source("digitz", tmp_path)
    assert f"(looked in {tmp_path.resolve()})" in str(e.value)


@pytest.mark.parametrize("empty", ["", " "])
def test_an_empty_data_source_is_named_so(empty: str) -> None:
    """A held-out tester's ``--data ""`` and ``load_data("")`` read "data file . is a
    directory"."""
    from descentcheck.impl.data import load_data

    with pytest.raises(DataError, match="the data source is empty"):
        load_data(empty)


def test_the_datasets_command_shows_each_sets_preprocessing() -> None:
    """A held-out new user: "built-in data sets and their preprocessing" listed none (sine's
    target is not rescaled; the README had said every regression target was)."""
    text = describe_builtins(preprocessing=True)
    for name in BUILTIN_DATASETS:
        assert f"\n{name}: " in text
    assert "target not rescaled" in text and "target standardised" in text


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("a" * 300, "unknown data set"),  # Path.exists raised OSError (name too long)
        ("a" * 300 + ".npz", "data file not found"),
        ("a\x00b", "unknown data set"),  # and ValueError (a NUL byte)
        ("a\x00b.npz", "data file not found"),
    ],
    ids=["long name", "long file name", "NUL", "NUL file"],
)
def test_a_data_source_that_cannot_name_a_file_is_one_line(source: str, fragment: str) -> None:
    with pytest.raises(DataError) as e:
        load_data(source)
    assert fragment in _message(e) and "\n" not in _message(e)


@pytest.mark.parametrize(
    ("source", "seed", "fragment"),
    [
        # a path joined with None or an int was a TypeError; numpy refused the seeds itself
        (None, 0, "a data source is a built-in's name or a path, got NoneType"),
        (3, 0, "a data source is a built-in's name or a path, got int"),
        ("sine", -1, "the data seed must be a non-negative integer, got -1"),
        ("sine", "x", "the data seed must be a non-negative integer, got 'x'"),
        ("sine", True, "the data seed must be a non-negative integer, got True"),
    ],
)
def test_a_data_source_or_seed_of_the_wrong_kind_is_one_line(source, seed, fragment) -> None:
    with pytest.raises(DataError) as e:
        load_data(source, seed=seed)
    assert _message(e) == fragment
