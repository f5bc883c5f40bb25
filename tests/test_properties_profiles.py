"""Hypothesis settings profiles: registered once, scaled by the active profile, never literal."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

from descentcheck.properties import profiles

TESTS = Path(__file__).resolve().parent


def test_no_test_file_sets_a_literal_example_count():
    """Example counts come from ``properties.profiles`` (a ``max_examples=`` in a test file
    would escape the active profile's scaling)."""
    literal = re.compile(r"max_examples\s*=")
    offenders = [
        f"{p.relative_to(TESTS)}:{i}"
        for p in sorted(TESTS.rglob("*.py"))
        if p.name != Path(__file__).name  # this file spells the pattern it looks for
        for i, line in enumerate(p.read_text().splitlines(), start=1)
        if literal.search(line)
    ]
    assert offenders == []


def test_the_scanner_sees_a_literal_count():
    assert re.search(r"max_examples\s*=", "@settings(max_examples=25, deadline=None)")


def test_tiers_keep_the_example_database():
    for name in profiles.TEST_EXAMPLES:
        s = settings.get_profile(name)
        assert s.database is not None, name
        assert s.deadline is None
        assert s.max_examples == profiles.TEST_EXAMPLES[name] * profiles.examples_scale()


def test_the_active_profile_scales_the_tiers():
    code = (
        "from hypothesis import settings\n"
        "from descentcheck.properties import profiles as p\n"
        "print(settings.get_profile(p.TEST_PROFILE_HEAVY).max_examples,"
        " settings.get_profile(p.TEST_PROFILE_SURVEY).max_examples)"
    )
    counts = {}
    for name in ("fast", "ci", "thorough"):
        env = {"DESCENTCHECK_PROFILE": name, "PATH": "/usr/bin:/bin"}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        counts[name] = tuple(int(v) for v in out.stdout.split())
    heavy = profiles.TEST_EXAMPLES[profiles.TEST_PROFILE_HEAVY]
    assert counts == {
        "fast": (heavy, 300),
        "ci": (3 * heavy, 300),
        "thorough": (10 * heavy, 300),
    }
