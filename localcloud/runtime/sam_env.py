"""The --env-vars file for `sam local invoke` / `sam local start-lambda` against the local cloud.

    {"Parameters": {"AWS_ENDPOINT_URL": ...}, "SqsWorkerFunction": {...every variable...}, ...}

sam local passes a function only the variables its template declares, filled from this file: each
function gets the values the local stack resolved (table names, queue URLs) and AWS_ENDPOINT_URL,
which template.yaml declares in Globals for exactly this purpose (its LocalEndpointUrl parameter).

The endpoint must be reachable from inside a container. `--docker-network host` does not give the
container the host's network in SAM CLI 1.170 (see tests/support/sam_cli.py), so by default the URL
uses the host's address on the Docker bridge (docker0) and the local cloud must listen on it
(`up --host 0.0.0.0`, which `--invoker docker` implies).
"""

from __future__ import annotations

import fcntl
import json
import socket
import struct
from pathlib import Path
from typing import Any

from localcloud.deploy.deployed_stack import DeployedStack
from localcloud.runtime.environment import function_variables

SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address


def docker_bridge_address(interface: str = "docker0") -> str | None:
    """The host's IPv4 address on the Docker bridge (what containers reach the host at), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            packed = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, struct.pack("256s", interface.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def container_endpoint_url(port: int) -> str:
    """The local endpoint as a container sees it (docker0's address, else the loopback)."""
    return f"http://{docker_bridge_address() or '127.0.0.1'}:{port}"


def sam_env_vars(stack: DeployedStack, endpoint_url: str) -> dict[str, Any]:
    document: dict[str, Any] = {"Parameters": {"AWS_ENDPOINT_URL": endpoint_url}}
    for logical_id, function in stack.functions.items():
        document[logical_id] = function_variables(function, endpoint_url)
    return document


def write_sam_env(stack: DeployedStack, endpoint_url: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sam_env_vars(stack, endpoint_url), indent=2) + "\n")
    return path
