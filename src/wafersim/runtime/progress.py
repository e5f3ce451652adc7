"""Progress bars for long launches (tqdm), on a terminal only, and only once a launch runs a while."""
from __future__ import annotations

import sys
from typing import Callable

from ..envvars import env_flag

ProgressOption = bool | Callable[[int, int, int], None] | None


class LaunchProgress:
    """A tqdm bar over waves (several waves) or a counter of barrier releases (one wave)."""

    def __init__(self, name: str, delay: float) -> None:
        self.name, self.delay = name, delay
        self.bar = None
        self.waves_done = 0
        self.refreshed = False  # shown by a heartbeat (`running`), which tqdm's close does not know of

    def __call__(self, waves_done: int, waves: int, barriers: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            unit, total = ("wave", waves) if waves > 1 else ("barrier", None)
            self.bar = tqdm(total=total, unit=unit, desc=self.name, delay=self.delay, file=sys.stderr, leave=False)
        if waves > 1:
            self.bar.update(max(waves_done - self.waves_done, 0))
            self.waves_done = max(waves_done, self.waves_done)
            self.bar.set_postfix(barriers=barriers, refresh=False)
        elif waves_done == 0:
            self.bar.update(barriers - self.bar.n)

    def running(self, cycle: float, pes: int) -> None:
        """A heartbeat from a long wave: the latest simulated cycle and how many PEs have not halted."""
        if self.bar is None:
            self(0, 1, 0)
        self.bar.set_postfix(cycle=f"{cycle:,.0f}", running=f"{pes:,} PEs", refresh=True)
        self.refreshed = True

    def close(self) -> None:
        if self.bar is not None:
            # tqdm's close clears only a bar its own updates printed: a bar a heartbeat refreshed stayed on
            # the line, and the error of a launch stopped by max_seconds was printed after it.
            if self.refreshed:
                self.bar.clear()
            self.bar.close()


def launch_progress(option: ProgressOption, name: str) -> Callable | None:
    """The progress callback for a launch: None (quiet) unless asked for or on a terminal.

    `option`: False = never; True = always; None = only when stderr is a terminal and the
    WAFERSIM_PROGRESS environment variable is not off (and then only once a launch has run 1 s);
    or a callable progress(waves_done, waves, barriers)."""
    if callable(option):
        return option
    if option is False or (option is None and (not env_flag("WAFERSIM_PROGRESS", True)
                                                or not sys.stderr.isatty())):
        return None
    return LaunchProgress(name, delay=0.0 if option else 1.0)


LARGE_COPY = 256 << 20  # bytes: copies at least this large show a bar on a terminal
CHUNK = 32 << 20


def copy_bytes(dst, src, name: str, progress: ProgressOption = None) -> None:
    """dst[:] = src for byte arrays; a large copy on a terminal shows a progress bar."""
    callback = launch_progress(progress, name) if len(src) >= LARGE_COPY else None
    if callback is None:
        dst[:] = src
        return
    from tqdm import tqdm

    with tqdm(total=len(src), unit="B", unit_scale=True, desc=name, file=sys.stderr, leave=False,
              delay=0.0 if progress else 1.0) as bar:
        for start in range(0, len(src), CHUNK):
            dst[start:start + CHUNK] = src[start:start + CHUNK]
            bar.update(min(CHUNK, len(src) - start))
