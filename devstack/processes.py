"""Background processes that the dev stack starts, tracked by pid files.

Only processes recorded here are ever signalled, by their pid, and only while
their command line still matches what was started (a pid can be reused).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class StartError(RuntimeError):
    """A process did not become ready; the message says which and where its log is."""


@dataclass(frozen=True)
class Tracked:
    name: str
    pid: int
    argv: list[str]
    log: Path
    # The kernel's start time of the process: tells our process from a reused pid.
    # (The command line cannot: Redis, for one, rewrites its process title.)
    started_ticks: int | None
    # What asks it to stop (PostgreSQL's fast shutdown is SIGINT).
    stop_signal: int = signal.SIGTERM


def _stat(pid: int) -> tuple[str, int] | None:
    """The state letter and start time of a process, from /proc/<pid>/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return fields[0], int(fields[19])


def is_running(tracked: Tracked) -> bool:
    stat = _stat(tracked.pid)
    if stat is None:
        return False
    state, started_ticks = stat
    return state != "Z" and started_ticks == tracked.started_ticks


class ProcessTable:
    """The processes of one run folder: start, find, stop."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.pid_dir = run_dir / "pids"
        self.log_dir = run_dir / "logs"

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path | None = None,
        *,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> Tracked:
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the shell that ran `make up`
                user=user,
            )
        stat = _stat(process.pid)
        tracked = Tracked(
            name, process.pid, list(argv), log, stat[1] if stat else None, int(stop_signal)
        )
        record = {"pid": tracked.pid, "argv": tracked.argv, "log": str(log)}
        record["started_ticks"] = tracked.started_ticks
        record["stop_signal"] = tracked.stop_signal
        (self.pid_dir / f"{name}.json").write_text(json.dumps(record))
        return tracked

    def tracked(self) -> list[Tracked]:
        found = []
        for path in sorted(self.pid_dir.glob("*.json")):
            data = json.loads(path.read_text())
            found.append(
                Tracked(
                    path.stem,
                    data["pid"],
                    data["argv"],
                    Path(data["log"]),
                    data["started_ticks"],
                    data.get("stop_signal", signal.SIGTERM),
                )
            )
        return found

    def get(self, name: str) -> Tracked | None:
        return next((t for t in self.tracked() if t.name == name), None)

    def stop(self, name: str, timeout_s: float = 30) -> bool:
        """SIGTERM, then SIGKILL after the timeout. True if a running process was stopped."""
        return bool(self.stop_together([name], timeout_s))

    def stop_together(self, names: list[str], timeout_s: float = 30) -> list[str]:
        """Stop these at once (each drains in parallel with the others): SIGTERM to all,
        SIGKILL to those still running after the timeout. Returns those that were running."""
        found = [t for name in names if (t := self.get(name)) is not None]
        running = [t for t in found if is_running(t)]
        for tracked in running:
            os.kill(tracked.pid, tracked.stop_signal)
        if not wait_for(lambda: not any(is_running(t) for t in running), timeout_s):
            for tracked in (t for t in running if is_running(t)):
                os.kill(tracked.pid, signal.SIGKILL)
            wait_for(lambda: not any(is_running(t) for t in running), 5)
        for tracked in found:
            _reap(tracked.pid)
            (self.pid_dir / f"{tracked.name}.json").unlink(missing_ok=True)
        return [t.name for t in running]


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_for(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """Poll a condition until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# Ports are drawn below the kernel's range for outgoing connections: a port from that
# range can be taken by a client's connection between our choice and the server's
# bind, and a client retrying a port in it can connect to itself (TCP simultaneous
# open) and hold the very port its server is about to listen on. A three-node Kafka
# cluster in CI once waited 120 s on exactly such ports.
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_PORT = 10000
_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now, not handed out before by this process, and
    outside the range the kernel gives outgoing connections where there is room."""
    low, _ = _ephemeral_range()
    for _ in range(200):
        port = (
            random.randrange(_LOWEST_PORT, low) if low > _LOWEST_PORT + 1000 else _kernel_port(host)
        )
        if port not in _handed_out and _bindable(host, port):
            _handed_out.add(port)
            return port
    raise StartError("no free TCP port found below the ephemeral range")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(part) for part in _EPHEMERAL_RANGE.read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _kernel_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def http_json(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def await_ready(tracked: Tracked, check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Wait until ``check`` holds; fail early, with the log's tail, if the process died."""

    def ready_or_dead() -> bool:
        return check() or not is_running(tracked)

    if not wait_for(ready_or_dead, timeout_s) or not check():
        tail = tail_lines(tracked.log, 15)
        state = "exited" if not is_running(tracked) else f"not ready after {timeout_s:.0f} s"
        raise StartError(f"{what} {state}; log {tracked.log}:\n{tail}")


def tail_lines(path: Path, count: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-count:])
    except OSError:
        return "(no log)"
