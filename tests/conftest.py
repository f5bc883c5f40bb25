"""Fixtures shared by test modules: ``plugins`` installs fake optimizer entry points
(:mod:`optimizer_plugins`)."""

from optimizer_plugins import plugins  # noqa: F401 (a fixture, found by pytest here)
