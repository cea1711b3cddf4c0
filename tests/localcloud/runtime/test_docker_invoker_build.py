"""When the Docker invoker rebuilds: a build older than the template or any function's or layer's code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from localcloud.runtime.docker_invoker import build_is_stale

pytestmark = pytest.mark.localcloud

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    CodeUri: functions/default/
Resources:
  OwnFolder:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/own/, Handler: app.handler, Runtime: python3.13}
  FromGlobals:
    Type: AWS::Serverless::Function
    Properties: {Handler: app.handler, Runtime: python3.13}
  Layer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/common/}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    for folder in ("functions/own", "functions/default", "layers/common/toolkit", "functions/unrelated"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "app.py").write_text("x = 1\n")
    built = tmp_path / ".aws-sam" / "build" / "template.yaml"
    built.parent.mkdir(parents=True)
    built.write_text("built")
    # Sources last changed 100 s ago, the build 50 s ago (clear of the file system's clock granularity)
    now = built.stat().st_mtime
    for path in tmp_path.rglob("*"):
        if path.is_file():
            age = 50 if path == built else 100
            os.utime(path, (now - age, now - age))
    return tmp_path


def test_a_build_newer_than_every_source_is_used_as_it_is(project: Path) -> None:
    # Given a build made after the last change of the template and the code
    # When its staleness is judged / Then it is current
    assert build_is_stale(project / "template.yaml", project / ".aws-sam/build/template.yaml") is False


@pytest.mark.parametrize("changed", [
    "template.yaml", "functions/own/app.py", "functions/default/app.py", "layers/common/toolkit/app.py",
])
def test_a_change_to_the_template_or_any_code_it_deploys_makes_the_build_stale(project: Path, changed: str) -> None:
    # Given a build, then one source file of the stack changed after it
    os.utime(project / changed)

    # When its staleness is judged / Then it must be rebuilt
    assert build_is_stale(project / "template.yaml", project / ".aws-sam/build/template.yaml") is True


def test_a_change_outside_the_stack_or_to_bytecode_does_not(project: Path) -> None:
    # Given a build, then a folder no resource deploys and a bytecode cache changed after it
    os.utime(project / "functions/unrelated/app.py")
    cache = project / "functions/own/__pycache__"
    cache.mkdir()
    (cache / "app.cpython-311.pyc").write_bytes(b"")

    # When its staleness is judged / Then the build is still current
    assert build_is_stale(project / "template.yaml", project / ".aws-sam/build/template.yaml") is False
