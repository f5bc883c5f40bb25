"""Packaging: every subpackage ships in the wheel, and the import root stays light."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {
    "impl": "descentcheck.impl",
    "theory": "descentcheck.theory",
    "properties": "descentcheck.properties",
    "reports": "descentcheck.reports",
}


def test_every_subpackage_is_listed_for_the_wheel():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    for folder, package in FOLDERS.items():
        assert config["package-dir"][package] == folder
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            name = ".".join((package, *rel))
            assert name in listed, f"{name} is not listed in pyproject.toml [tool.setuptools]"


def test_import_and_cli_do_not_load_heavy_libraries():
    code = (
        "import sys, descentcheck, descentcheck.cli, descentcheck.theory, "
        "descentcheck.properties, descentcheck.reports; "
        "print(sorted(m for m in ('sympy', 'matplotlib', 'sklearn', 'torch', 'mpmath') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
