"""Safe file IO: atomic writes, and ``.npz`` reading that turns every failure into one clear line.

Conventions:

- Writes are atomic: the bytes go to a temporary file in the target's directory, which is flushed,
  ``fsync``-ed and then ``os.replace``-d onto the target. A reader sees the old file or the new one,
  never a half-written one; on any failure the temporary file is removed, the target is untouched
  and the exception propagates. The new file gets the old file's permission bits, or the usual
  ``0o666 & ~umask`` for a new one (a bare temporary file would be private, ``0o600``).
- ``.npz`` files are read with ``np.load(path, allow_pickle=False)``, all arrays eagerly. Any
  problem (missing, a directory, not an archive, corrupt, a pickled object array, empty) raises
  :class:`DataError` (``what="data"``) or :class:`ParamsError` (``what="params"``) with a one-line
  message naming the file.
- A text document (a spec, a sweep file) is read by :func:`read_document` as JSON, or TOML where
  the caller allows it; every failure is one line naming the file, as for ``.npz`` files.
- ``.npz`` files are written with a fixed timestamp on every member, so the same arrays always give
  the same bytes (``np.savez`` stamps the current time), and object arrays are refused on writing
  since they could never be read back.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import stat
import sys
import tempfile
import tomllib
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataError, DescentcheckError, ParamsError, params_mapping

if TYPE_CHECKING:
    from .network import Network

Array = np.ndarray
PathLike = str | os.PathLike[str]

_ERRORS: dict[str, type[DescentcheckError]] = {"data": DataError, "params": ParamsError}
_LABELS = {"data": "data file", "params": "parameters file"}
# the earliest time a zip entry can hold; any fixed value makes the archive bytes reproducible
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


# ---- atomic writes -------------------------------------------------------------------------


def _new_file_mode() -> int:
    # os.umask can only be read by setting it; the window is two syscalls long
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _replaceable(target: Path) -> None:
    """Raise ``OSError`` unless ``target`` is absent or a regular file (or a link to one): a
    folder cannot be replaced, and a device (``/dev/null``, as root) must not be."""
    if target.exists() and not target.is_file():
        what = "a directory" if target.is_dir() else "not a regular file (a device, a pipe?)"
        raise OSError(errno.EISDIR if target.is_dir() else errno.EINVAL, f"is {what}", str(target))


def _staged(target: Path, data: bytes) -> str:
    """A temporary file beside ``target`` holding ``data``, flushed, fsync-ed, with the mode
    ``target`` has (or a new file's); its name. Removed again if anything fails."""
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = _new_file_mode()
    # not a with-block around everything: the file must be closed before it is renamed
    try:
        tmp = tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
        )
    except OSError as e:  # named by the file the user asked for, not our temporary name
        raise OSError(e.errno, e.strerror, str(target)) from None
    try:
        with tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp.name, mode)
    except BaseException as e:
        _unlink(tmp.name)
        if isinstance(e, OSError):
            raise OSError(e.errno, e.strerror, str(target)) from None
        raise
    return tmp.name


def _unlink(name: str) -> None:
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass


def atomic_write_files(files: Mapping[PathLike, bytes]) -> None:
    """Write each ``path: data`` atomically (see the module docstring), as one group: every file
    is staged first, then all are renamed with Ctrl-C held off, so an interruption, or a failure
    before the renames (a full disk, say), leaves all the old files, and a finished write all
    the new ones: never a new file beside an old one it belongs with. Parents must exist."""
    from .interrupts import deferred_interrupts

    targets = [Path(p) for p in files]
    for target in targets:  # every target first: a rename that must fail fails before any is made
        _replaceable(target)
    staged: list[tuple[str, Path]] = []
    try:  # BaseException too: a KeyboardInterrupt must not leave a stray temp file either
        for target, data in zip(targets, files.values()):
            staged.append((_staged(target, data), target))
        with deferred_interrupts():
            for tmp, target in staged:
                try:
                    os.replace(tmp, target)
                except OSError as e:
                    raise OSError(e.errno, e.strerror, str(target)) from None
    except BaseException:
        for tmp, _ in staged:
            _unlink(tmp)
        raise
    for directory in {target.parent for _, target in staged}:
        _fsync_dir(directory)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring); parents must exist."""
    atomic_write_files({path: data})


def _fsync_dir(directory: Path) -> None:
    # makes the rename itself durable on POSIX; Windows cannot open a directory, and it is only
    # durability (not atomicity) that is at stake, so failure here is not an error
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically, encoded as given, newlines written as they are."""
    atomic_write_bytes(path, text.encode(encoding))


# ---- npz -----------------------------------------------------------------------------------


def npz_bytes(arrays: Mapping[str, Array]) -> bytes:
    """The bytes of an ``.npz`` archive (uncompressed, as ``np.savez``) holding ``arrays``.

    Same arrays, same bytes. Raises ``ValueError`` for a key that is not a non-empty string or
    for an object array."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, value in arrays.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"npz keys must be non-empty strings, got {key!r}")
            arr = np.asanyarray(value)
            if arr.dtype.hasobject:
                raise ValueError(f"array {key!r} has dtype object, which cannot be stored")
            info = zipfile.ZipInfo(key + ".npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, arr, allow_pickle=False)
    return buf.getvalue()


def save_npz_atomic(path: PathLike, arrays: Mapping[str, Array]) -> None:
    """Save ``arrays`` as an ``.npz`` at ``path`` atomically; keys are stored as given."""
    atomic_write_bytes(path, npz_bytes(arrays))


def exists(path: PathLike) -> bool:
    """Whether ``path`` names something on disk; False for a name that cannot be one (too long
    for the file system, a NUL byte), where ``Path.exists`` raises (``OSError``, ``ValueError``)."""
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


def file_in_the_way(path: PathLike) -> str | None:
    """What keeps a folder from being made at ``path``: the file that it or one of its parents
    names (``"X is a file"``), or a broken symbolic link there (``"X is a broken symbolic link
    (to T)"``: ``exists`` is False for one, and the folder's ``mkdir`` says only "file exists");
    None when nothing is."""
    for p in (Path(path), *Path(path).parents):
        if _broken_link(p):
            return f"{p} is a broken symbolic link (to {os.readlink(p)})"
        if exists(p):
            return None if p.is_dir() else f"{p} is a file"
    return None


def _broken_link(p: Path) -> bool:
    try:
        return p.is_symlink() and not p.exists()
    except (OSError, ValueError):  # a name too long, a NUL byte: as exists says
        return False


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _not_an_archive(p: Path, label: str, e: BaseException) -> str:
    """Why ``np.load`` refused ``p``. numpy takes whatever is neither zip nor .npy for a pickle
    and says "If you trust the file you can load it unsafely": false for a text file, and
    advice this suite never takes, so its words are kept only for a damaged zip."""
    with open(p, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK"):
        return f"{label} {p} is a damaged .npz archive: {_one_line(e)}"
    if _is_pickle(head):
        return _a_pickle(p, label)
    return f"{label} {p} is not an .npz archive (it does not begin as a zip file does)"


def _is_pickle(head: bytes) -> bool:
    return head[:1] == b"\x80"  # pickle protocol 2 and later


def _a_pickle(p: Path, label: str) -> str:
    return f"{label} {p} is a Python pickle, which descentcheck never loads"


def npz_path(path: PathLike, what: str) -> Path:
    """``path``, if it names something that could be an ``.npz`` file: not missing, not a folder
    (``what`` as :func:`load_npz`'s)."""
    p, error, label = Path(path), _ERRORS[what], _LABELS[what]
    if not exists(p):
        raise error(f"{label} not found: {p}")
    if p.is_dir():
        raise error(f"{label} {p} is a directory, not an .npz file")
    return p


def load_npz(path: PathLike, what: str) -> dict[str, Array]:
    """All arrays of the ``.npz`` at ``path``, read with ``allow_pickle=False``.

    ``what`` is ``"data"`` or ``"params"`` and picks the error class (:class:`DataError` or
    :class:`ParamsError`) and the wording."""
    if what not in _ERRORS:
        raise ValueError(f"what must be 'data' or 'params', got {what!r}")
    error, label = _ERRORS[what], _LABELS[what]
    if not isinstance(path, str | os.PathLike):
        raise error(f"{label} must be named by a path, got {type(path).__name__}")
    p = npz_path(path, what)
    try:
        loaded = np.load(p, allow_pickle=False)
    except EOFError:
        raise error(f"{label} {p} is empty (0 bytes), not an .npz archive") from None
    except (ValueError, zipfile.BadZipFile) as e:
        raise error(_not_an_archive(p, label, e)) from None
    except OSError as e:
        raise error(f"cannot read {label} {p}: {_one_line(e)}") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise error(f"{label} {p} holds a single .npy array, not an .npz archive of named arrays")
    arrays: dict[str, Array] = {}
    with loaded:
        if not loaded.files:
            raise error(f"{label} {p} is an empty .npz archive (no arrays)")
        for key in loaded.files:
            if (short := _short_member(loaded, key)) is not None:
                raise error(f"{label} {p}: array {key!r} is corrupt: {short}")
            try:
                value = loaded[key]
            except ValueError as e:
                if "pickle" in str(e).lower():
                    raise error(
                        f"{label} {p} contains a pickled object array {key!r}, which "
                        "descentcheck refuses to load (allow_pickle=False)"
                    ) from None
                raise error(f"{label} {p}: array {key!r} is corrupt: {_one_line(e)}") from None
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
                raise error(f"{label} {p}: array {key!r} is corrupt: {_one_line(e)}") from None
            if not isinstance(value, np.ndarray):
                raise error(f"{label} {p}: member {key!r} is not a .npy array")
            arrays[key] = value
    return arrays


def _short_member(npz: np.lib.npyio.NpzFile, key: str) -> str | None:
    """Why member ``key`` cannot hold the array its ``.npy`` header claims, before numpy
    allocates it (a held-out tester's header claiming 745 GiB read "out of memory"); None when
    it can, or when the header is for ``np.load`` to judge."""
    try:
        info = npz.zip.getinfo(f"{key}.npy")
        with npz.zip.open(info) as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0
            if version != (1, 0):
                read = np.lib.format.read_array_header_2_0
            shape, _, dtype = read(f)
            claimed = math.prod(shape) * dtype.itemsize
            held = info.file_size - f.tell()
    except Exception:  # np.load names a damaged header, zip or stream in its own words
        return None
    if claimed <= held:
        return None
    return f"its header claims shape {shape} of {dtype} ({claimed:,} bytes), it holds {held:,}"


class DuplicateKey(ValueError):
    """A JSON object that names one key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:  # json keeps the last silently: a spec would lose a node's first "units"
            raise DuplicateKey(f"the key {k!r} appears twice in one object")
        out[k] = v
    return out


def json_loads(text: str) -> Any:
    """``json.loads``, refusing an object that names a key twice (:class:`DuplicateKey`)."""
    return json.loads(text, object_pairs_hook=_unique_keys)


def json_problem(e: json.JSONDecodeError) -> str:
    """``Expecting ',' delimiter at line 2 column 1``; json's own "Unterminated string starting
    at" is not followed by a second "at"."""
    at = "" if e.msg.endswith(" at") else " at"
    return f"{e.msg}{at} line {e.lineno} column {e.colno}"


def _not_text(p: Path, label: str, e: UnicodeDecodeError) -> str:
    """Why a file that is not UTF-8 is no ``label``: a pickle or a zip (an ``.npz``) named as
    such, as :func:`load_npz` names them, else the first byte that is not text."""
    head = bytes(e.object[:2])
    if _is_pickle(head):
        return _a_pickle(p, label)
    if head == b"PK":
        return f"{label} {p} is a zip archive (an .npz?), not a {label}"
    return f"{label} {p} is not UTF-8 text (byte {e.start} is {e.object[e.start]:#04x})"


def read_document(
    path: PathLike, label: str, error: type[Exception], *, toml: bool = False
) -> tuple[Any, str]:
    """The parsed document at ``path`` and its text. It is JSON unless ``toml`` allows TOML, which
    is then taken for any file but a ``.json`` one or one whose text starts with ``{``. Every
    failure raises ``error`` with one line naming ``label`` (``"spec file"``) and the path."""
    p = Path(path)
    if exists(p) and not p.is_file() and not p.is_dir():  # a FIFO would block the read forever
        raise error(f"{label} {p} is not a regular file (a pipe, a device?)")
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{label} not found: {p}") from None
    except IsADirectoryError:
        raise error(f"{label} {p} is a directory") from None
    except UnicodeDecodeError as e:
        raise error(_not_text(p, label, e)) from None
    except OSError as e:
        raise error(f"cannot read {label} {p}: {_one_line(e)}") from None
    except ValueError as e:  # a NUL byte in the name (after UnicodeDecodeError, a ValueError)
        raise error(f"cannot read {label} {str(p)!r}: {e}") from None
    as_toml = toml and p.suffix.lower() != ".json" and not text.lstrip().startswith("{")
    try:
        return (tomllib.loads(text) if as_toml else json_loads(text)), text
    except DuplicateKey as e:
        raise error(f"{p}: {e}") from None
    except RecursionError:
        raise error(f"{p}: nested too deeply to be a {label}") from None
    except json.JSONDecodeError as e:
        raise error(f"{p}: malformed JSON: {json_problem(e)}") from None
    except tomllib.TOMLDecodeError as e:
        raise error(f"{p}: malformed TOML: {_one_line(e)}") from None
    except ValueError as e:  # Python's cap on int() of a long digit string (4300 digits)
        if "digits" not in str(e):
            raise error(f"{p}: cannot read it as a {label}: {_one_line(e)}") from None
        limit = sys.get_int_max_str_digits()
        raise error(f"{p}: a number of more than {limit} digits, too long to read") from None


# ---- parameters ----------------------------------------------------------------------------


def save_params(path: PathLike, params: Mapping[str, Array]) -> None:
    """Save a params dict ``NAME.PARAM -> ndarray`` to ``path`` (``.npz``) atomically. Anything
    ``load_params`` would refuse to read back (not a mapping, a non-numeric array, a key that
    is no name) is a one-line :class:`ParamsError` before the file is touched."""
    from .backend import host_array

    params_mapping(params)
    arrays = {}
    for k, v in params.items():
        arrays[k] = host_array(v, ParamsError, f"parameter {k!r} is")
        if arrays[k].dtype.kind not in "fiu":
            raise ParamsError(f"parameter {k!r} has dtype {arrays[k].dtype}, expected float64")
    try:
        save_npz_atomic(path, arrays)
    except ValueError as e:  # a key that is not a non-empty string
        raise ParamsError(str(e)) from None


def load_params(path: PathLike, net: Network | None = None) -> dict[str, Array]:
    """Read a params dict from an ``.npz``; with ``net``, check it fits (every key present, no
    extra key, shapes, finite numbers) and return float64 arrays, else return arrays as stored.

    Raises :class:`ParamsError` with a one-line message naming the file."""
    params = load_npz(path, "params")
    if net is None:
        return params
    try:
        return net.check_params(params)
    except ParamsError as e:
        raise ParamsError(f"parameters file {Path(path)} does not fit the network: {e}") from None
