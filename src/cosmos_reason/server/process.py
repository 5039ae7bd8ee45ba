"""Run a server as a child process: the test suite's and the benchmarks' launcher.

`ServerProcess(args)` runs `python -m cosmos_reason serve --host 127.0.0.1 --port P *args`
on a free port (or any other server `command`, e.g. `transformers serve`), with its output
in a log file; `wait_ready()` polls /health, `stop()` sends SIGTERM and kills after a while.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerProcess:
    def __init__(
        self,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        *,
        command: Sequence[str] | None = None,
        port: int | None = None,
        cpus: set[int] | None = None,
        log_name: str | None = None,
        cwd: Path | None = None,
    ) -> None:
        """`command` replaces `cosmos_reason serve` (give the `port` it listens on); `cpus` pins it."""
        self.port = port if port is not None else free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / (log_name or f"cosmos-reason-{self.port}.log")
        if command is None:
            command = [
                sys.executable,
                "-m",
                "cosmos_reason",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *args,
            ]
        with self.log.open("w") as out:  # the child keeps its own copy of the file
            self.proc = subprocess.Popen(
                list(command),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"server not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (from /proc)."""
        return process_cpu_seconds(self.proc.pid)

    def children(self) -> list[int]:
        """The pids of the server's child processes (e.g. its --workers)."""
        pid = self.proc.pid
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def stop(self, timeout: float = 30) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
