"""Loading plugins: the entry points of one group, each loaded once and checked, or refused.

A third-party package declares, in its ``pyproject.toml``::

    [project.entry-points."descentcheck.ops"]
    isru = "my_package.ops:isru"          # NAME = "module:attribute", the plugin object

:func:`load_group` imports every entry point of a group (``importlib.metadata.entry_points``),
hands each loaded object to the group's validator, and returns what the validator made of them,
in entry-point name order (so the registries' order does not depend on install order). Any
problem (the import fails, the object lacks a rule, a name is taken twice) raises
:class:`PluginError` with one line naming the entry point, its package and what is wrong; the CLI
prints that line, never a traceback. Nothing here imports numpy or SymPy.

Each registry calls :func:`load_group` the first time it is read (never at import), caches the
result, and offers a ``reset`` for tests that fake entry points.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from descentcheck.errors import DescentcheckError, one_line

T = TypeVar("T")


class PluginError(DescentcheckError):
    """A plugin could not be loaded or lacks a rule; the message is one line naming it."""


def describe(ep: Any) -> str:
    """``entry point NAME (VALUE, from package DIST)`` for messages."""
    dist = getattr(getattr(ep, "dist", None), "name", None)
    where = f"{ep.value}" + (f", from package {dist}" if dist else "")
    return f"plugin {ep.name!r} ({where})"


def a_kind(obj: Any) -> str:
    """``obj``'s type with its article, for messages: ``an int``, ``a function``."""
    name = type(obj).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def entry_points(group: str) -> list[Any]:
    """The entry points of ``group``, sorted by name (a hook tests may monkeypatch)."""
    return sorted(importlib.metadata.entry_points(group=group), key=lambda ep: ep.name)


GROUPS = ("descentcheck.ops", "descentcheck.optimizers", "descentcheck.claims")


def declared_groups() -> set[str]:
    """Every entry-point group an installed distribution declares (read per distribution:
    ``entry_points()`` without a group is a dict by group before Python 3.12)."""
    return {ep.group for d in importlib.metadata.distributions() for ep in d.entry_points}


def stray_groups() -> str:
    """For a message about an unknown name: the entry-point groups installed packages declare
    that look like descentcheck's but are none of :data:`GROUPS` (``descentcheck.optimizer``),
    whose plugins are never loaded, as ``"; ..."``; "" when there are none."""
    try:
        groups = declared_groups()
    except Exception:  # a broken distribution's metadata: no hint rather than a second error
        return ""
    stray = sorted(g for g in groups if g.lower().startswith("descentcheck") and g not in GROUPS)
    if not stray:
        return ""
    return (
        f"; an installed package declares entry points in {', '.join(map(repr, stray))}, "
        f"which descentcheck does not read (its groups: {', '.join(GROUPS)})"
    )


def _files(root: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """The ``.py`` files under ``root`` (a package folder; its subfolders named in ``skip`` left
    out) by their path relative to it, or ``root`` itself (a module file) by its name."""
    if not root.is_dir():
        return {root.name: root.read_bytes()}
    found = ((f, f.relative_to(root)) for f in root.rglob("*.py"))
    return {rel.as_posix(): f.read_bytes() for f, rel in found if rel.parts[0] not in skip}


def _digest(files: dict[str, bytes]) -> str:
    """SHA-256 over ``files`` (name and bytes, in name order), its first 16 hex digits."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name] + b"\0")
    return h.hexdigest()[:16]


def _source_of(module: str) -> Path | None:
    """The folder of package ``module`` (of a plugin's: its top-level package), or its file when
    it is a lone module; None when it cannot be found without running it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None


def code_fingerprint() -> dict[str, str]:
    """What a stored result depends on beyond its inputs: descentcheck's version and source,
    and each installed plugin entry point (``GROUP:NAME``) with its package's version and the
    source of the package its object comes from (an edited and reinstalled plugin keeps its
    version, not its digest). A resumed sweep compares it (``properties.sweep.store``)."""
    import descentcheck

    # by module path, so a source checkout (the subpackages beside descentcheck/) and an
    # installed wheel (inside it) give the same digest for the same code
    subs = ("impl", "theory", "properties", "reports")
    ours = {
        f"descentcheck/{k}": v for k, v in _files(Path(descentcheck.__file__).parent, subs).items()
    }
    for sub in subs:
        src = _source_of(f"descentcheck.{sub}")
        if src is not None:
            ours |= {f"descentcheck/{sub}/{k}": v for k, v in _files(src).items()}
    out = {"descentcheck": f"{descentcheck.__version__} {_digest(ours)}"}
    for group in GROUPS:
        for ep in entry_points(group):
            dist = getattr(ep, "dist", None)
            version = f"{dist.name} {dist.version}" if dist is not None else "?"
            src = _source_of(ep.value.split(":", 1)[0].split(".", 1)[0])
            digest = _digest(_files(src)) if src is not None and src.exists() else "?"
            out[f"{group}:{ep.name}"] = f"{version} {digest}"
    return out


def load_group(group: str, validate: Callable[[Any, str], T]) -> list[T]:
    """Load every entry point of ``group`` and pass each object, with its :func:`describe`
    text, to ``validate`` (which raises :class:`PluginError` to refuse it)."""
    out: list[T] = []
    for ep in entry_points(group):
        who = describe(ep)
        out.append(validate(loaded(ep, who), who))
    return out


_LOADING: set[tuple[Any, Any]] = set()  # entry points whose module is being imported


def loaded(ep: Any, who: str, error: type[PluginError] = PluginError) -> Any:
    """``ep.load()``; any failure of the plugin's module, ``sys.exit()`` at import too, is a
    one-line ``error`` naming it (``who``: :func:`describe`'s text). A module that reads a
    registry at import, which loads the module again, is said to be that (a held-out audit got
    the registry's failure nested in the module's: "partially initialized module")."""
    key = (getattr(ep, "group", None), ep.value)
    if key in _LOADING:
        e = error(
            f"{who}: cannot load: its module reads a descentcheck registry when imported, and "
            "that registry loads the plugins, this module among them (a circular import): read "
            "registries (CLAIMS, BY_ID, names()) inside functions"
        )
        e.circular = True  # type: ignore[attr-defined]
        raise e
    _LOADING.add(key)
    try:
        return ep.load()
    except (Exception, SystemExit) as e:
        if getattr(e, "circular", False):
            raise  # said once, from where the circle closed
        raise error(f"{who}: cannot load: {one_line(e)}") from None
    finally:
        _LOADING.discard(key)


def built(
    obj: Any,
    who: str,
    what: str,
    ready: Callable[[Any], bool],
    error: type[PluginError] = PluginError,
) -> Any:
    """What an entry point names: ``obj`` itself, or, when it is a callable that is not
    ``ready`` (not a plugin object already), what calling it with no arguments returns. A call
    that raises is a one-line ``error`` (``cannot build its WHAT``)."""
    if not callable(obj) or ready(obj):
        return obj
    try:
        inspect.signature(obj).bind()
    except TypeError:  # it needs arguments: most likely the op's rule, named for its plugin
        raise error(
            f"{who}: is {a_kind(obj)} {getattr(obj, '__name__', '')}{inspect.signature(obj)}, "
            f"not the {what} or a function of no arguments that builds it (does the entry point "
            "name a rule instead of the plugin object?)"
        ) from None
    except ValueError:  # no signature to read (a builtin): calling it will tell
        pass
    try:
        return obj()
    except (Exception, SystemExit) as e:  # a plugin's own failure: one line, naming it
        raise error(f"{who}: cannot build its {what}: {one_line(e)}") from None
