"""Fault-injection points: the places where a test can make evlog die or fail on purpose.

A crash-safety claim ("a kill at any moment loses no acknowledged record") is only as good as the
moments it was tried at. Code that writes durable state calls `fault_point("name")` between its
steps; nothing happens unless the point is armed, either for the whole process by the
environment (read once, at import: tests arm subprocesses this way)::

    EVLOG_FAULTS="recorder.after_events=kill,wal.write=enospc@3"

or in-process with `arm("name", "raise")` (tests only). Actions:

    kill     SIGKILL this process (no cleanup, no flush: a power cut as far as files go)
    raise    raise `InjectedFault` (an `OSError`, so it takes the same paths as a real I/O error)
    enospc   raise `OSError(ENOSPC)`, a full disk
    sigint   send SIGINT to this process (a Ctrl-C at that moment)

`@N` fires on the N-th time the point is reached (counting from 1) and never again; without it
every time. Unknown names are harmless: a point that no code reaches never fires.
"""

from __future__ import annotations

import errno
import os
import signal
import threading

ENV = "EVLOG_FAULTS"


class InjectedFault(OSError):
    """The failure an armed `raise` point raises."""


_lock = threading.Lock()
_armed: dict[str, tuple[str, int | None]] = {}
_reached: dict[str, int] = {}


def _parse(spec: str) -> dict[str, tuple[str, int | None]]:
    armed: dict[str, tuple[str, int | None]] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, action = item.partition("=")
        action, _, nth = (action or "kill").partition("@")
        armed[name.strip()] = (action.strip(), int(nth) if nth.strip() else None)
    return armed


_armed.update(_parse(os.environ.get(ENV, "")))


def arm(name: str, action: str = "raise", nth: int | None = None) -> None:
    """Arm `name` in this process (tests)."""
    with _lock:
        _armed[name] = (action, nth)
        _reached.pop(name, None)


def disarm(name: str | None = None) -> None:
    """Disarm `name`, or every point."""
    with _lock:
        if name is None:
            _armed.clear()
            _reached.clear()
        else:
            _armed.pop(name, None)
            _reached.pop(name, None)


def fault_point(name: str) -> None:
    """Fire the fault armed at `name`, if any (a no-op dictionary look-up otherwise)."""
    if not _armed:
        return
    with _lock:
        if name not in _armed:
            return
        action, nth = _armed[name]
        count = _reached[name] = _reached.get(name, 0) + 1
        if nth is not None and count != nth:
            return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "sigint":
        os.kill(os.getpid(), signal.SIGINT)
        return
    if action == "enospc":
        raise OSError(errno.ENOSPC, f"No space left on device (injected at {name})")
    raise InjectedFault(errno.EIO, f"injected fault at {name}")
