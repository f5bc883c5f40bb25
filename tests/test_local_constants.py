"""properties/local_constants: a seed draws the same cases whether or not a local module with
literal constants is imported (a checkout's descentcheck, a plugin under development), as in
tox, where descentcheck is installed from a wheel and nothing of it is local."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

DRAWS = """
import json, sys
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "patched":
    import descentcheck.properties.profiles  # noqa: F401  (registering the profiles patches)
if sys.argv[3] == "with":
    import many_constants  # noqa: F401
from hypothesis import given, seed, settings, strategies as st

out = []

@seed(0)
@settings(database=None, deadline=None)
@given(st.integers(0, 10**6), st.floats(0, 1), st.text(max_size=8))
def draw(i, f, s):
    out.append([i, f, s])

draw()
print(json.dumps(out))
"""

# a local module (outside site-packages, not a test file) full of constants each strategy allows
CONSTANTS = "\n".join(
    [f"I{i} = {123_457 + 7919 * i}" for i in range(40)]
    + [f"F{i} = {0.1234567 + i / 997}" for i in range(40)]
    + [f"S{i} = 'k{i}x'" for i in range(40)]
)


def _draws(folder, patched: bool, with_module: bool) -> list:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            DRAWS,
            str(folder),
            "patched" if patched else "plain",
            "with" if with_module else "without",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_a_local_modules_constants_leave_the_draws_unchanged(tmp_path):
    module_dir = tmp_path / "src"
    module_dir.mkdir()
    (module_dir / "many_constants.py").write_text(CONSTANTS + "\n")
    plain_without = _draws(module_dir, patched=False, with_module=False)
    plain_with = _draws(module_dir, patched=False, with_module=True)
    if plain_with == plain_without:
        pytest.skip("this Hypothesis does not draw local constants: nothing to make independent")
    # the pool reached the draws without the patch (what the patch removes), not with it
    assert _draws(module_dir, patched=True, with_module=True) == _draws(
        module_dir, patched=True, with_module=False
    )
