"""The lock of a `Device` (`Device.lock`): re-entrant, held by every command on the device, and aware of a
launch that the debugger (`ws.debug`) holds stopped.

A launch under `ws.debug` runs in a thread of its own and, at a stop, waits there for the caller's next
command -- holding the device's lock, as every launch does. A command on that device from another thread
(`out.copy_to_host()` at a breakpoint, another launch, `dev.synchronize()`) would then wait for the lock, and
the launch would wait for that thread's `dbg.cont()`: both waited forever, silently. While the launch is
stopped such a command is refused instead, with a `LaunchError` saying what to do.
"""
from __future__ import annotations

import threading
from typing import Any

from ..errors import LaunchError


class DeviceLock:
    """A re-entrant lock (`threading.RLock`'s `acquire`, `release` and `with`) that refuses, rather than waits
    forever, while the thread holding it is a launch stopped under the debugger (`stopped_launch` set)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        #: The name of the launch that holds the lock and is stopped under `ws.debug`, else None. Set and cleared
        #: by the debugger's launch thread (`runtime.debug.Debugger.pause`), which holds the lock then.
        self.stopped_launch: str | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock (again, in the thread that holds it); a `LaunchError` while another thread holds it
        for a launch stopped under the debugger, which only this thread's debugger commands can move on."""
        if self._lock.acquire(blocking=False):
            return True
        stopped = self.stopped_launch
        if stopped is not None:
            raise LaunchError(
                f"the device is in use by the launch of {stopped}, stopped under the debugger (ws.debug): the launch "
                f"holds its device until it ends, so this command would wait for it forever. At a stop, look at the "
                f"launch through the debugger (dbg.locals(pe), dbg.read_local(name, pe), dbg.fifo(pe, direction)); "
                f"copy arrays, launch and synchronize on that device after the `with ws.debug(...)` block, or once "
                f"dbg.cont() has returned the 'finished' stop (another Device may be used meanwhile)",
                launch=stopped)
        if not blocking:
            return False
        return self._lock.acquire(True, timeout)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        state = f", held by the stopped launch of {self.stopped_launch}" if self.stopped_launch else ""
        return f"<DeviceLock{state}>"
