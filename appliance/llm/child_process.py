"""Server processes the appliance (or a test) starts and must never leave behind.

``bound_to_parent`` builds the command line of a child that asks the kernel
for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``, kept across the exec
that follows), exits at once if the parent is already gone, and then becomes
``python -m MODULE ARGS``. Used for the embedded llama.cpp server and for the
vLLM server of the integration tests.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

# Runs in the child, before it becomes the server.
_BOOTSTRAP = """\
import ctypes, os, signal, sys
parent = int(sys.argv.pop(1))
if sys.platform == "linux":
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != parent:
    sys.exit(70)
os.execv(sys.executable, [sys.executable, "-m", *sys.argv[1:]])
"""
ORPHANED_EXIT = 70  # the child found its parent gone before it started


def bound_to_parent(python: str | Path, module: str, args: list[str]) -> list[str]:
    """The command that runs ``python -m module *args`` and dies with this process."""
    return [str(python), "-c", _BOOTSTRAP, str(os.getpid()), module, *args]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the child binds it a moment later)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def log_tail(path: Path, *, lines: int = 20, max_bytes: int = 8192) -> str:
    """The last ``lines`` lines of a child's log, for error messages."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - max_bytes))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
