"""One bash into which command lines are pasted one after another, as a person pastes README commands.

Each line runs in the shell itself (so `cd`, `source .venv/bin/activate` and `export` carry over to
the next), with its output in its own file, stdin closed, and a time limit. A line that runs until
Ctrl-C is started as a job of its own (job control, so SIGINT is not ignored as a background job's
would be), interrupted later, and waited for.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

POLL_S = 0.2


@dataclass(frozen=True)
class Outcome:
    line: str
    status: int
    output: str
    seconds: float

    def describe(self) -> str:
        tail = self.output[-6000:]
        return f"$ {self.line}\n(exit {self.status} after {self.seconds:.0f} s)\n{tail}"


class ShellGone(Exception):
    pass


class PastingShell:
    def __init__(self, cwd: Path, env: dict[str, str], work_dir: Path) -> None:
        self.work_dir = work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        self._count = 0
        self._stderr = (work_dir / "shell.stderr").open("wb")
        # Its own session: a line that hangs is killed with the shell's whole process group.
        self.process = subprocess.Popen(["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE, cwd=cwd, env=env,
                                        stdout=subprocess.DEVNULL, stderr=self._stderr, start_new_session=True)

    def _paste(self, text: str) -> None:
        if self.process.poll() is not None or self.process.stdin is None:
            raise ShellGone(f"the shell exited ({self.process.returncode}); earlier lines are in {self.work_dir}")
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def _files(self) -> tuple[Path, Path, Path]:
        self._count += 1
        return (self.work_dir / f"{self._count:03d}.out", self.work_dir / f"{self._count:03d}.rc",
                self.work_dir / f"{self._count:03d}.pid")

    def run(self, line: str, timeout_s: float) -> Outcome:
        out, rc, _ = self._files()
        started = time.monotonic()
        # The newline before } lets a line end with a comment.
        self._paste(f"{{ {line}\n}} > {out} 2>&1 < /dev/null; echo $? > {rc}\n")
        status = self._wait_for_status(rc, started + timeout_s, line)
        return Outcome(line, status, out.read_text(errors="replace"), time.monotonic() - started)

    def run_until_interrupted(self, line: str, *, shows_within_s: float, runs_for_s: float) -> Outcome:
        """Start ``line``, wait until it has printed something (and ``runs_for_s``), then press Ctrl-C."""
        out, rc, pid_file = self._files()
        started = time.monotonic()
        self._paste(f"set -m; {line} > {out} 2>&1 < /dev/null & echo $! > {pid_file}; set +m\n")
        deadline = started + shows_within_s
        while not (pid_file.exists() and out.exists() and out.stat().st_size
                   and time.monotonic() - started >= runs_for_s):
            if time.monotonic() > deadline:
                break
            time.sleep(POLL_S)
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGINT)  # the job's own process group, as Ctrl-C would
        self._paste(f"wait {pid or ''}; echo $? > {rc}\n")
        status = self._wait_for_status(rc, time.monotonic() + 60, line)
        return Outcome(line, status, out.read_text(errors="replace") if out.exists() else "",
                       time.monotonic() - started)

    def _wait_for_status(self, rc: Path, deadline: float, line: str) -> int:
        while not (rc.exists() and rc.read_text().strip()):
            if self.process.poll() is not None:
                raise ShellGone(f"the shell exited ({self.process.returncode}) while running: {line}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"still running at its time limit, killed: {line}")
            time.sleep(POLL_S)
        return int(rc.read_text())

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ShellGone, BrokenPipeError):
                self._paste("exit\n")
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._stderr.close()
