"""Atomic writes, npz loading errors, and the params round trip."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import numpy as np
import pytest

from descentcheck.impl import io as dio
from descentcheck.impl.errors import DataError, ParamsError
from descentcheck.impl.io import (
    atomic_write_bytes,
    atomic_write_files,
    atomic_write_text,
    load_npz,
    load_params,
    npz_bytes,
    save_npz_atomic,
    save_params,
)
from descentcheck.impl.network import Network

SPEC = {
    "inputs": 3,
    "output": "out",
    "loss": "mse",
    "nodes": [
        {"name": "h1", "op": "dense", "units": 4, "inputs": ["input"]},
        {"name": "a1", "op": "tanh", "inputs": ["h1"]},
        {"name": "g", "op": "gaussian", "units": 2, "radius": "per_unit", "inputs": ["a1"]},
        {"name": "out", "op": "dense", "units": 2, "inputs": ["g"]},
    ],
}


def _one_line(e: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def _leftovers(directory: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


# ---- atomic writes -------------------------------------------------------------------------


def test_atomic_write_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    atomic_write_text(target, "first\n")
    assert target.read_text() == "first\n"
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert _leftovers(tmp_path, {"f.txt"}) == []


def test_atomic_write_text_keeps_newlines_and_encodes_utf8(tmp_path: Path) -> None:
    target = tmp_path / "t.txt"
    atomic_write_text(target, "a\r\nβ\n")
    assert target.read_bytes() == "a\r\nβ\n".encode()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_atomic_write_keeps_mode_of_existing_file_and_umask_for_new(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.write_bytes(b"x")
    old.chmod(0o640)
    atomic_write_bytes(old, b"y")
    assert stat.S_IMODE(old.stat().st_mode) == 0o640
    new = tmp_path / "new"
    atomic_write_bytes(new, b"y")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("fail_at", ["fsync", "replace", "write"])
def test_failed_atomic_write_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    target = tmp_path / "params.npz"
    save_npz_atomic(target, {"a.W": np.arange(6.0).reshape(2, 3)})
    before = target.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk on fire")

    data: object = b"new contents that must never land"
    if fail_at == "write":
        data = "not bytes"  # the temp file exists when the write raises TypeError
        expected: type[Exception] = TypeError
    else:
        monkeypatch.setattr(dio.os, fail_at, boom)
        expected = OSError
    with pytest.raises(expected):
        atomic_write_bytes(target, data)  # type: ignore[arg-type]
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert _leftovers(tmp_path, {"params.npz"}) == []


def test_failed_atomic_write_of_new_file_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(dio.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(tmp_path / "new.json", "{}")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_into_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "no" / "such" / "f", b"x")


# ---- npz -----------------------------------------------------------------------------------


def test_npz_round_trip_keeps_dotted_keys_dtypes_and_bits(tmp_path: Path) -> None:
    arrays = {
        "h1.W": np.random.default_rng(0).normal(size=(3, 4)),
        "h1.b": np.array([0.1, -0.0, np.finfo(float).tiny, 1e308]),
        "labels": np.arange(5, dtype=np.int64),
        "file": np.float32([1.5]),  # would clash with np.savez's own argument name
    }
    path = tmp_path / "a.npz"
    save_npz_atomic(path, arrays)
    back = load_npz(path, "params")
    assert list(back) == list(arrays)
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype
        assert back[k].tobytes() == v.tobytes()
    # readable by plain numpy, and the same arrays give the same bytes
    with np.load(path, allow_pickle=False) as f:
        assert sorted(f.files) == sorted(arrays)
    assert npz_bytes(arrays) == path.read_bytes()


def test_npz_bytes_refuses_object_arrays_and_bad_keys() -> None:
    with pytest.raises(ValueError, match="object"):
        npz_bytes({"x": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="non-empty"):
        npz_bytes({"": np.zeros(1)})


@pytest.mark.parametrize("what, error", [("data", DataError), ("params", ParamsError)])
def test_load_npz_missing_file_and_directory(tmp_path: Path, what: str, error: type) -> None:
    with pytest.raises(error, match="not found") as e:
        load_npz(tmp_path / "nope.npz", what)
    assert "nope.npz" in _one_line(e)
    with pytest.raises(error, match="is a directory") as e:
        load_npz(tmp_path, what)
    assert str(tmp_path) in _one_line(e)


def _write_corrupt(kind: str, path: Path) -> None:
    good = npz_bytes({"x": np.arange(100.0).reshape(20, 5), "y": np.arange(20)})
    if kind == "random":
        path.write_bytes(np.random.default_rng(1).bytes(300))
    elif kind == "empty_file":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "flipped":
        # a byte inside the first array's data: the zip reads, the CRC check does not pass
        bad = bytearray(good)
        bad[400] ^= 0xFF
        path.write_bytes(bytes(bad))
    elif kind == "npy":
        np.save(path.with_suffix(".npy"), np.zeros(3))
        path.with_suffix(".npy").rename(path)
    elif kind == "text":
        path.write_text("x,y\n1,2\n")
    elif kind == "pickle":
        path.write_bytes(pickle.dumps({"x": [1.0]}))


@pytest.mark.parametrize(
    "kind, words",
    [
        ("random", "not an .npz archive (it does not begin as a zip file does)"),
        ("empty_file", "0 bytes"),
        ("truncated", "is a damaged .npz archive"),
        ("flipped", "corrupt"),
        ("npy", "single .npy array"),
        ("text", "not an .npz archive (it does not begin as a zip file does)"),
        ("pickle", "is a Python pickle, which descentcheck never loads"),
    ],
)
@pytest.mark.parametrize("what, error", [("data", DataError), ("params", ParamsError)])
def test_load_npz_corrupt_files(
    tmp_path: Path, kind: str, words: str, what: str, error: type
) -> None:
    path = tmp_path / "bad.npz"
    _write_corrupt(kind, path)
    with pytest.raises(error) as e:
        load_npz(path, what)
    msg = _one_line(e)
    assert words in msg
    assert str(path) in msg
    assert "unsafely" not in msg  # numpy's advice to load a pickle is never passed on


def test_load_npz_names_a_header_that_claims_more_than_its_member_holds(tmp_path: Path) -> None:
    """A held-out tester's member whose ``.npy`` header claims shape (10^11, 10^3) read "out of
    memory: Unable to allocate 745. GiB": the file is at fault, and is named so."""
    import io
    import zipfile

    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.zeros((2, 3)))
    raw = buf.getvalue()
    small, big = b"'shape': (2, 3), }", b"'shape': (100000000000, 1000), }"
    padded = raw.replace(small + b" " * (len(big) - len(small)), big)
    assert len(padded) == len(raw) and padded != raw  # the same header length, a bigger shape
    path = tmp_path / "d.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", padded)
        z.writestr("y.npy", raw)
    with pytest.raises(DataError) as e:
        load_npz(path, "data")
    assert str(e.value) == (
        f"data file {path}: array 'x' is corrupt: its header claims shape (100000000000, 1000) "
        "of float64 (800,000,000,000,000 bytes), it holds 48"
    )


def test_load_npz_refuses_pickled_object_array(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    # np.savez pickles object arrays by default; descentcheck must not unpickle them
    np.savez(path, x=np.zeros((2, 2)), y=np.array([{"a": 1}, {"b": 2}], dtype=object))
    with pytest.raises(DataError) as e:
        load_npz(path, "data")
    msg = _one_line(e)
    assert msg == (
        f"data file {path} contains a pickled object array 'y', which descentcheck refuses "
        "to load (allow_pickle=False)"
    )


def test_load_npz_empty_archive(tmp_path: Path) -> None:
    path = tmp_path / "empty.npz"
    np.savez(path)
    with pytest.raises(ParamsError, match=r"empty \.npz archive") as e:
        load_npz(path, "params")
    assert str(path) in _one_line(e)


def test_load_npz_rejects_unknown_what(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="what"):
        load_npz(tmp_path / "x.npz", "spec")


# ---- params --------------------------------------------------------------------------------


def test_params_round_trip_with_network(tmp_path: Path) -> None:
    net = Network.from_spec(SPEC)
    params = net.init(seed=3)
    path = tmp_path / "p.npz"
    save_params(path, params)
    for back in (load_params(path), load_params(path, net)):
        assert list(back) == list(params)
        for k, v in params.items():
            assert back[k].dtype == np.float64
            assert back[k].tobytes() == v.tobytes()
    x = np.random.default_rng(0).normal(size=(5, 3))
    assert net.forward(load_params(path, net), x).tobytes() == net.forward(params, x).tobytes()


def _mutations(params: dict[str, np.ndarray]) -> dict[str, tuple[dict[str, np.ndarray], str]]:
    first = next(iter(params))
    wrong_shape = {**params, first: np.zeros((*params[first].shape, 1))}
    missing = {k: v for k, v in params.items() if k != first}
    extra = {**params, "ghost.W": np.zeros((1, 1))}
    nan = {**params, first: np.full(params[first].shape, np.nan)}
    return {
        "shape": (wrong_shape, "has shape"),
        "missing": (missing, "is missing"),
        "extra": (extra, "unexpected parameter 'ghost.W'"),
        "nan": (nan, "NaN"),
    }


@pytest.mark.parametrize("case", ["shape", "missing", "extra", "nan"])
def test_load_params_with_network_rejects_misfits(tmp_path: Path, case: str) -> None:
    net = Network.from_spec(SPEC)
    bad, words = _mutations(net.init(seed=0))[case]
    path = tmp_path / "p.npz"
    save_params(path, bad)
    load_params(path)  # without a network there is nothing to check against
    with pytest.raises(ParamsError) as e:
        load_params(path, net)
    msg = _one_line(e)
    assert words in msg
    assert str(path) in msg
    assert "unsafely" not in msg  # numpy's advice to load a pickle is never passed on


def test_read_document_picks_json_or_toml_and_words_each_failure(tmp_path: Path) -> None:
    from descentcheck.impl.errors import SpecError

    (tmp_path / "a.toml").write_text('name = "x"\nsteps = 2\n')
    (tmp_path / "a.json").write_text('{"name": "x", "steps": 2}')
    (tmp_path / "brace").write_text('{"steps": 2}')  # no suffix: JSON by its leading brace
    for name in ("a.toml", "a.json"):
        raw, text = dio.read_document(tmp_path / name, "sweep file", SpecError, toml=True)
        assert raw == {"name": "x", "steps": 2} and text == (tmp_path / name).read_text()
    assert dio.read_document(tmp_path / "brace", "f", SpecError, toml=True)[0] == {"steps": 2}
    # JSON only unless TOML is allowed: a TOML file is then malformed JSON
    with pytest.raises(SpecError, match=r"a\.toml: malformed JSON: .* at line 1 column 1$"):
        dio.read_document(tmp_path / "a.toml", "spec file", SpecError)
    (tmp_path / "bad.toml").write_text("steps = \n")
    (tmp_path / "bad.bin").write_bytes(b"\xff\xfe\x00")
    cases = {
        "bad.toml": r"bad\.toml: malformed TOML: ",
        "missing.json": r"^spec file not found: .*missing\.json$",
        "bad.bin": r"^spec file .*bad\.bin is not UTF-8 text \(byte 0 is 0xff\)$",
        ".": r" is a directory$",
    }
    for name, message in cases.items():
        with pytest.raises(SpecError, match=message) as e:
            dio.read_document(tmp_path / name, "spec file", SpecError, toml=True)
        assert "\n" not in str(e.value)


def test_a_pair_whose_second_target_is_a_folder_leaves_the_first_untouched(tmp_path):
    first, second = tmp_path / "params.npz", tmp_path / "trajectory.json"
    first.write_bytes(b"old")
    second.mkdir()
    with pytest.raises(OSError) as err:
        atomic_write_files({first: b"new", second: b"new"})
    assert err.value.filename == str(second) and "is a directory" in err.value.strerror
    assert first.read_bytes() == b"old" and second.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.npz", "trajectory.json"]


def test_a_target_that_is_not_a_regular_file_is_never_replaced(tmp_path):
    fifo = tmp_path / "fifo"  # stands in for /dev/null, which root would otherwise replace
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        atomic_write_bytes(fifo, b"x")
    assert stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX thing")
def test_a_named_pipe_given_as_a_document_is_refused_not_read(tmp_path: Path) -> None:
    """Reading a FIFO with no writer blocks forever (held-out crash audit)."""
    from descentcheck.impl.errors import SpecError
    from descentcheck.impl.io import read_document

    fifo = tmp_path / "spec.json"
    os.mkfifo(fifo)
    with pytest.raises(SpecError, match=r"spec file .*spec\.json is not a regular file"):
        read_document(fifo, "spec file", SpecError)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        # None and a list were AttributeErrors; a string array was saved, and refused on reading
        (None, "parameters must be a mapping NAME.PARAM -> array, got NoneType"),
        ([np.ones(2)], "parameters must be a mapping NAME.PARAM -> array, got list"),
        ({"a.W": "b"}, "parameter 'a.W' has dtype <U1, expected float64"),
        (
            {"a.W": [[1.0, 2.0], [1.0]]},
            "parameter 'a.W' is not a rectangular array (rows of different lengths?)",
        ),
        ({3: np.ones(2)}, "npz keys must be non-empty strings, got 3"),
    ],
)
def test_parameters_that_would_not_read_back_are_not_saved(tmp_path, params, fragment):
    path = tmp_path / "p.npz"
    with pytest.raises(ParamsError) as e:
        save_params(path, params)
    assert str(e.value) == fragment and not path.exists()
    with pytest.raises(ParamsError, match="parameters file must be named by a path, got NoneType"):
        load_params(None)
