"""The dependency direction of DESIGN.md's layout: ``impl`` knows nothing of ``theory``,
``properties`` or ``reports``; ``theory`` imports ``impl`` only in its checks against the trainer
(the list in ``theory/__init__.py``'s docstring). Every import counts, a function's too: a held-out
contract audit found ``impl/gradcheck.py`` importing theory's mpmath evaluator inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: theory's checks against the trainer: the modules that may import descentcheck.impl
THEORY_CHECKS = {
    "checks",
    "coverage",
    "descent_checks",
    "network_agreement",
    "numeric_agreement",
    "optimizer_agreement",
    "plugin_rules",
    "random_specs",
}


def _imports(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` imports, absolute, anywhere in it (relative ones resolved: the
    top-level folder under ``root`` is the subpackage ``descentcheck.<folder>``)."""
    package = ["descentcheck", *path.parent.relative_to(root).parts]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            out.add(name)
            out |= {f"{name}.{a.name}" for a in node.names}
    return out


def _reaches(imports: set[str], *packages: str) -> list[str]:
    return sorted(
        i
        for i in imports
        for p in packages
        if i == f"descentcheck.{p}" or i.startswith(f"descentcheck.{p}.")
    )


@pytest.mark.parametrize("path", sorted((ROOT / "impl").rglob("*.py")), ids=lambda p: p.name)
def test_impl_knows_nothing_of_the_layers_above(path):
    assert _reaches(_imports(path), "theory", "properties", "reports") == []


NOT_CHECKS = sorted(p for p in (ROOT / "theory").glob("*.py") if p.stem not in THEORY_CHECKS)


@pytest.mark.parametrize("path", NOT_CHECKS, ids=lambda p: p.name)
def test_theory_imports_impl_only_in_its_checks(path):
    assert _reaches(_imports(path), "impl") == []


def test_the_walk_sees_an_import_inside_a_function(tmp_path):
    planted = tmp_path / "impl" / "planted.py"
    planted.parent.mkdir()
    planted.write_text("def f():\n    from ..theory import mp_network\n    return mp_network\n")
    assert _reaches(_imports(planted, tmp_path), "theory") == [
        "descentcheck.theory",
        "descentcheck.theory.mp_network",
    ]


def _loaded_after(code: str, tmp_path: Path) -> set[str]:
    """The ``descentcheck`` modules loaded in a fresh interpreter after ``code`` runs."""
    import subprocess
    import sys

    script = code + "\nimport sys\nprint(' '.join(m for m in sys.modules if 'descentcheck' in m))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    return set(done.stdout.split())


def test_theorys_derivations_do_not_load_impl_through_the_registries(tmp_path):
    """Every import counts, through the registries too: the op registry imported its errors from
    ``impl.errors``, so ``derive``'s modules loaded ``descentcheck.impl`` (contract audit)."""
    modules = ", ".join(f"descentcheck.theory.{p.stem}" for p in NOT_CHECKS if p.stem != "__main__")
    loaded = _loaded_after(f"import {modules}", tmp_path)
    assert "descentcheck.theory.derivations" in loaded
    assert _reaches(loaded, "impl") == []


def test_impl_loading_a_plugin_that_names_a_region_does_not_load_theory(tmp_path):
    """``impl.optim.get_optimizer`` loads the optimizer registry, whose check of a plugin's
    ``region`` name imported ``theory.descent`` (contract audit): the names are the registry's
    own data now. The plugin here names gd's region."""
    (tmp_path / "plug_gd.py").write_text(
        "from descentcheck.registry.optimizers import LR, OptimizerEntry\n"
        "ENTRY = OptimizerEntry(name='plug_gd', summary='gd again', hyperparameters=(LR,),\n"
        "    factory='plug_gd:factory', derivation='plug_gd:rule', region='gd')\n"
        "def factory(lr):\n"
        "    from descentcheck.impl.optim import get_optimizer\n"
        "    return get_optimizer('gd', lr)\n"
    )
    code = (
        "import importlib.metadata as md, sys\n"
        "sys.path.insert(0, '.')\n"
        "ep = md.EntryPoint('plug_gd', 'plug_gd:ENTRY', 'descentcheck.optimizers')\n"
        "md.entry_points = lambda group=None, **kw: [ep] if group == ep.group else []\n"
        "from descentcheck.impl.optim import get_optimizer\n"
        "assert get_optimizer('plug_gd', 0.1).hyperparameters == {'lr': 0.1}\n"
    )
    loaded = _loaded_after(code, tmp_path)
    assert "descentcheck.registry.region_names" in loaded
    assert _reaches(loaded, "theory", "properties", "reports") == []
