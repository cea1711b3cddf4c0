"""The real SAM CLI against a Docker engine, for tests/sam.

`sam local invoke --docker-network host` does not give the container the host's network in SAM CLI
1.170 (it only skips connecting a named network), so a function in Docker cannot reach a server on
the host's 127.0.0.1. The container can reach the host on the Docker bridge's gateway address
(docker0, 172.17.0.1 by default), a network namespace of this machine: the test moto server listens
there. sam local passes only the environment variables a template declares; template.yaml declares
AWS_ENDPOINT_URL (see its LocalEndpointUrl parameter) and the --env-vars file fills it in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / ".aws-sam" / "build"
SAM_ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0"}


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def docker_bridge_address() -> str:
    """The host's address on the default Docker bridge (what a container reaches the host at)."""
    for address in psutil.net_if_addrs().get("docker0", []):
        if address.family.name == "AF_INET":
            return str(address.address)
    raise RuntimeError("no docker0 bridge: is the Docker engine running?")


def sam_executable() -> str:
    """The SAM CLI of this interpreter's venv, whether or not the venv is activated."""
    beside = Path(sys.executable).parent / "sam"
    return str(beside) if beside.exists() else "sam"


def sam(*args: str, timeout_s: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sam_executable(), *args], cwd=ROOT, env=SAM_ENV, capture_output=True, text=True, timeout=timeout_s, check=False
    )


def build(*function_ids: str) -> None:
    """`sam build --use-container` in the build-image (stand-in when the real one cannot be pulled)."""
    result = sam(
        "build", *function_ids, "--use-container", "--skip-pull-image", "--docker-network", "host",
        "--build-dir", str(BUILD_DIR), "--cache-dir", str(ROOT / ".aws-sam" / "cache"), "--cached",
    )
    if result.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


@dataclass
class Invocation:
    payload: Any
    logs: str
    returncode: int


def local_invoke(
    function_id: str,
    event_path: Path,
    endpoint_url: str,
    env_vars: dict[str, dict[str, str]],
    work_dir: Path,
) -> Invocation:
    """`sam local invoke` one event in Docker; the payload is the function's JSON response."""
    env_file = work_dir / "env.json"
    env_file.write_text(json.dumps({"Parameters": {"AWS_ENDPOINT_URL": endpoint_url}, **env_vars}))
    result = sam(
        "local", "invoke", function_id,
        "--template", str(BUILD_DIR / "template.yaml"),
        "--event", str(event_path),
        "--env-vars", str(env_file),
        "--skip-pull-image",
        timeout_s=300,
    )
    payload = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else None
    return Invocation(payload=payload, logs=result.stderr, returncode=result.returncode)
