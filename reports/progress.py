"""One progress bar for the whole build (tqdm), advanced in work units by every part.

Each part of the report declares how many units it will spend (cases, training runs, figures);
the bar's total is their sum, so it moves steadily and its ETA means something. ``enabled``:
True always shows it, None only on a terminal (tqdm's ``disable=None``), False never.
"""

from __future__ import annotations

from typing import Any


class Progress:
    """A thin wrapper: ``stage(name)`` relabels the bar, ``tick(n)`` advances it."""

    def __init__(self, total: int, enabled: bool | None = None, desc: str = "report") -> None:
        self._bar: Any = None
        if enabled is not False:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                desc=desc,
                unit="task",
                disable=None if enabled is None else False,
                dynamic_ncols=True,
            )
        self.done = 0

    def stage(self, name: str) -> None:
        if self._bar is not None:
            self._bar.set_description_str(name, refresh=True)

    def tick(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)

    def write(self, message: str) -> None:
        """Print a line without breaking the bar."""
        if self._bar is not None:
            self._bar.write(message)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Silent(Progress):
    """A Progress that shows nothing (for a part run on its own, e.g. in tests)."""

    def __init__(self) -> None:
        super().__init__(0, enabled=False)
