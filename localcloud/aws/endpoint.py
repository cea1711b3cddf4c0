"""The local AWS endpoint: moto in server mode, as a subprocess (localcloud.motoserver).

A subprocess rather than moto's in-process ThreadedMotoServer because the state must outlive any one
client: the functions' worker processes, the pollers and later CLI calls (`send`, `status`) all talk
to the same server, and `up --detach` leaves it running for them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from localcloud.config import INVOKE_URL_VARIABLE, PROJECT_ROOT

HEALTH_PATH = "/moto-api/"
STOP_GRACE_S = 10.0


class EndpointError(RuntimeError):
    """The moto server could not be started, or is not answering."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (tests run several clouds side by side)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def is_healthy(endpoint_url: str, timeout_s: float = 1.0) -> bool:
    """True when a moto server answers on endpoint_url."""
    try:
        with urllib.request.urlopen(endpoint_url + HEALTH_PATH, timeout=timeout_s):  # noqa: S310 - local URL
            return True
    except (urllib.error.URLError, OSError):
        return False


def moto_config(endpoint_url: str) -> dict[str, object]:
    """moto's runtime config as its API reports it (batch and lambda sections only, in moto 5.2.5)."""
    with urllib.request.urlopen(endpoint_url + "/moto-api/config", timeout=5) as response:  # noqa: S310
        config: dict[str, object] = json.loads(response.read())
        return config


class MotoEndpoint:
    """One moto server process on host:port; ``url`` is how clients on this machine reach it."""

    def __init__(
        self,
        *,
        port: int,
        host: str = "127.0.0.1",
        invoke_url: str | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.port = port
        self.host = host
        self.invoke_url = invoke_url
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        # Listening on every interface (0.0.0.0) includes loopback; on one address, only that one.
        reachable = "127.0.0.1" if self.host in ("0.0.0.0", "127.0.0.1") else self.host  # noqa: S104
        return f"http://{reachable}:{self.port}"

    def reset(self) -> None:
        """Empty every service (moto's reset API): a clean account without a restart."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310 - our own URL
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our own URL
            pass

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self, timeout_s: float = 60.0) -> MotoEndpoint:
        if port_in_use(self.port, self.host):
            raise EndpointError(
                f"port {self.port} is already in use (another local cloud? `python -m localcloud down`, "
                f"or pick another with --port)"
            )
        env = dict(os.environ)
        if self.invoke_url:
            env[INVOKE_URL_VARIABLE] = self.invoke_url
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 - child owns it
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "localcloud.motoserver", "--host", self.host, "--port", str(self.port),
                 "--parent-pid", str(os.getpid())],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=PROJECT_ROOT,
                # Its own session: Ctrl-C in the terminal reaches `up`, which then stops the server last.
                start_new_session=True,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        self._wait_healthy(timeout_s)
        return self

    def _wait_healthy(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EndpointError(f"moto server exited with {self.process.returncode}; see {self.log_path}")
            if is_healthy(self.url):
                return
            time.sleep(0.1)
        self.stop()
        raise EndpointError(f"moto server did not answer on {self.url} within {timeout_s} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process(self.process.pid, grace_s=STOP_GRACE_S)
        self.process.wait()
        self.process = None


def stop_process(pid: int, grace_s: float = STOP_GRACE_S) -> bool:
    """SIGTERM a process, SIGKILL it after grace_s; True if it was running."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def process_alive(pid: int) -> bool:
    try:
        reaped, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        reaped = 0  # not our child: fall back to a signal probe
    if reaped == pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
