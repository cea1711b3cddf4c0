"""CommonLayer as `sam build` makes it: what it holds, and how big it is unzipped.

BuildMethod python3.13 has sam build pip-install layers/common/requirements.txt into the layer's
python/ folder, next to the layer's own code. These tests make the same install with pip's
cross-platform options (wheels for CPython 3.13 on manylinux x86_64, the runtime and architecture
template.yaml gives the layer) and check that:
- the layer holds exactly the distributions requirements.txt pins, at those versions;
- every requirement of each of them is met inside the layer, so a boto3 there brings its own botocore;
- there is no botocore (or s3transfer) without a boto3 beside it: on Lambda the layer's python/ comes
  before the runtime's packages on sys.path, so the runtime's boto3 would run on them;
- unzipped, the layer is at most 25 MB: the bytes of its files as sam build extracts the wheels (it
  writes no .pyc), packages and lambda_toolkit together.

What is left, about 11 MB (it was 33 MB, 20 of them botocore's, with Powertools' tracer extra):
pydantic_core 4.7 MB (pydantic's compiled validator), aws-lambda-powertools 3.3 MB (Logger, Metrics,
idempotency and the event data classes come in one package with the parts the suite does not use),
pydantic 1.7 MB (every typed model), psutil 0.5 MB (the CPU benchmark's report), and typing-extensions,
jmespath (Powertools' idempotency keys), annotated-types and typing-inspection, under 0.3 MB together.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import Distribution, distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import template as tpl

MAX_UNZIPPED_BYTES = 25 * 1024 * 1024
# Installed by the Lambda runtime as one matched set; a layer ships boto3 with them or none of them.
RUNTIME_SDK = {"boto3", "botocore", "s3transfer"}
PLATFORMS = {
    "x86_64": ["manylinux2014_x86_64", "manylinux_2_28_x86_64"],
    "arm64": ["manylinux2014_aarch64", "manylinux_2_28_aarch64"],
}

pytestmark = pytest.mark.slow


def layer_source() -> Path:
    return tpl.ROOT / tpl.properties("CommonLayer")["ContentUri"]


def layer_python_version() -> str:
    build_method = tpl.resource("CommonLayer")["Metadata"]["BuildMethod"]
    assert build_method.startswith("python3."), build_method
    return build_method.removeprefix("python")


def pinned() -> dict[str, str]:
    """requirements.txt as {distribution: version}; every line must be an exact pin."""
    pins = {}
    for line in (layer_source() / "requirements.txt").read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        requirement = Requirement(text)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{text}: the layer's requirements are exact pins"
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def marker_environment(python_version: str, architecture: str) -> dict[str, str]:
    return {
        "python_version": python_version, "python_full_version": f"{python_version}.0",
        "implementation_name": "cpython", "platform_python_implementation": "CPython",
        "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
        "platform_machine": "aarch64" if architecture == "arm64" else architecture, "extra": "",
    }


@pytest.fixture(scope="module")
def built_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Given the layer's requirements installed as sam build installs them for the layer's runtime
    (architecture,) = tpl.properties("CommonLayer")["CompatibleArchitectures"]
    target = tmp_path_factory.mktemp("layer") / "python"
    platform_options = [option for tag in PLATFORMS[architecture] for option in ("--platform", tag)]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
         "--target", str(target), "--python-version", layer_python_version(), "--implementation", "cp",
         *platform_options, "--only-binary=:all:", "-r", str(layer_source() / "requirements.txt")],
        capture_output=True, text=True, check=False, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return target


def installed(layer: Path) -> dict[str, Distribution]:
    return {canonicalize_name(dist.metadata["Name"]): dist for dist in distributions(path=[str(layer)])}


def test_the_layer_holds_exactly_the_pinned_distributions(built_layer: Path) -> None:
    # When the installed distributions are listed
    found = {name: dist.version for name, dist in installed(built_layer).items()}

    # Then they are what requirements.txt pins, nothing more, at the pinned versions
    assert found == pinned()


def test_every_requirement_of_the_layer_is_met_inside_the_layer(built_layer: Path) -> None:
    # Given the Lambda runtime's interpreter and platform
    (architecture,) = tpl.properties("CommonLayer")["CompatibleArchitectures"]
    environment = marker_environment(layer_python_version(), architecture)
    layer = installed(built_layer)

    # When each distribution's requirements are checked against the layer itself
    unmet = []
    for name, dist in layer.items():
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            provided = layer.get(canonicalize_name(requirement.name))
            if provided is None or not requirement.specifier.contains(provided.version, prereleases=True):
                unmet.append(f"{name} {dist.version} requires {requirement}, layer has "
                             f"{provided.version if provided else 'nothing'}")

    # Then there is nothing a package would take from the runtime instead (boto3 and botocore included)
    assert unmet == []


def test_the_layer_ships_no_part_of_the_sdk_without_its_boto3(built_layer: Path) -> None:
    # When the runtime's SDK packages are looked for in the layer
    shipped = RUNTIME_SDK & set(installed(built_layer))

    # Then there are none, or boto3 is there with them (and the previous test matched their versions)
    assert not shipped or "boto3" in shipped, f"{sorted(shipped)} would shadow the runtime's own under its boto3"


def tree_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*")
               if path.is_file() and "__pycache__" not in path.parts)


def test_the_layer_unzipped_is_at_most_25_mb(built_layer: Path) -> None:
    # When the layer's packages and its own code (lambda_toolkit, requirements.txt) are added up
    size = tree_bytes(built_layer) + tree_bytes(layer_source())

    # Then it stays under the goal; the message says where the bytes are
    largest = sorted(((tree_bytes(p) if p.is_dir() else p.stat().st_size, p.name) for p in built_layer.iterdir()),
                     reverse=True)[:6]
    breakdown = ", ".join(f"{name} {size_ / 2**20:.1f} MB" for size_, name in largest)
    assert size <= MAX_UNZIPPED_BYTES, f"layer is {size / 2**20:.1f} MB unzipped: {breakdown}"
