"""What a MemorySize buys in the local sandbox: a hard memory limit, a CPU share and visible cores.

Rules (docs/AWS_RULES.md, "Lambda runtime and sandbox"):
- lambda/latest/dg/configuration-memory.html: memory 128-10,240 MB; "at 1,769 MB, a function has the
  equivalent of one vCPU (one vCPU-second of credits per second)", the share growing with memory;
- lambda/latest/dg/troubleshooting-invocation.html and repost.aws/knowledge-center/lambda-runtime-error:
  a runtime that exits (here: killed past its memory) fails the invoke with errorType
  "Runtime.ExitError", errorMessage "RequestId: <id> Error: Runtime exited with error: signal: killed";
- lambda/latest/dg/services-sqs-errorhandling.html: an invoke that fails returns the whole batch to the queue;
- the cores visible per memory size (layers/common/lambda_platform.py, measured on Lambda).
The CPU figures are a behaviour check with generous margins (the machine is shared), not a benchmark.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from lambda_platform import visible_cores

from localcloud.cli import main
from localcloud.cloud import LocalCloud
from localcloud.config import CloudConfig
from localcloud.runtime.cgroups import CGROUPS_FILE
from localcloud.runtime.function_logs import LogEvent
from localcloud.runtime.resource_limits import LimitsRefused, SandboxLimits, cgroups_unavailable_reason
from localcloud.runtime.subprocess_invoker import SubprocessInvoker
from tests.localcloud.conftest import cloud_config
from tests.localcloud.waiting import wait_for
from tests.support.requirements import require_facility

pytestmark = [pytest.mark.localcloud, pytest.mark.slow]

TEMPLATE = Path(__file__).parents[1] / "templates" / "resource_limits_template.yaml"
CPU_LIMITED = "CpuProbe512Function,CpuProbe1024Function,CpuProbe5307Function"
KILLED_FOR_MEMORY = re.compile(r"RequestId: [0-9a-f-]{36} Error: Runtime exited with error: signal: killed")


@pytest.fixture(scope="module")
def limits_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    require_facility(cgroups_unavailable_reason())
    config = cloud_config(tmp_path_factory.mktemp("limits-cloud"), template=TEMPLATE, stack_name="limits",
                          cpu_limits=CPU_LIMITED)
    with LocalCloud(config) as cloud:
        yield cloud


def report_of(cloud: LocalCloud, function: str, request_id: str) -> dict[str, str]:
    """The fields of the REPORT line of one invoke ({} while it is not written)."""
    return next((report for report in reports(cloud, function) if report.get("RequestId") == request_id), {})


def reports(cloud: LocalCloud, function: str) -> list[dict[str, str]]:
    """The fields of every REPORT line of the function's log, oldest first."""
    lines = (cloud.config.log_dir / f"{function}.log").read_text().splitlines()
    return [dict(field.split(": ", 1) for field in event.message.removeprefix("REPORT ").split("\t"))
            for event in map(LogEvent.parse, lines) if event.message.startswith("REPORT RequestId: ")]


def group_dirs(invoker: SubprocessInvoker) -> list[Path]:
    """The sandbox groups under the local cloud's own groups (one per live worker and controller)."""
    assert invoker.limits is not None
    return [group for root in invoker.limits.tree.roots if root.is_dir() for group in root.iterdir() if group.is_dir()]


def test_a_128_mb_function_that_allocates_400_mb_fails_with_runtime_exit_error_signal_killed(
    limits_cloud: LocalCloud,
) -> None:
    # Given MemoryHogFunction (MemorySize 128), which stays within it when asked for 32 MB
    assert limits_cloud.invoke("MemoryHogFunction", {"allocate_mb": 32}).error is None

    # When it allocates 400 MB
    result = limits_cloud.invoke("MemoryHogFunction", {"allocate_mb": 400})

    # Then the kernel killed it and the invoke fails as Lambda reports it
    assert result.error is not None
    assert result.error["errorType"] == "Runtime.ExitError"
    assert KILLED_FOR_MEMORY.fullmatch(result.error["errorMessage"]), result.error
    # And the REPORT says so, with the sandbox's peak at its limit as Max Memory Used
    request_id = result.error["errorMessage"].split()[1]
    report = report_of(limits_cloud, "MemoryHogFunction", request_id)
    assert (report["Status"], report["Error Type"], report["Memory Size"]) == ("error", "Runtime.ExitError", "128 MB")
    assert 120 <= int(report["Max Memory Used"].removesuffix(" MB")) <= 128
    # And the next invoke gets a fresh sandbox that works
    assert limits_cloud.invoke("MemoryHogFunction", {"allocate_mb": 32}).error is None


def test_what_a_function_writes_to_tmp_is_not_its_memory(limits_cloud: LocalCloud) -> None:
    """/tmp is ephemeral storage, billed and bounded apart from memory (EphemeralStorage, 512 MB by
    default): a 128 MB function can fill it. https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html"""
    # Given TmpWriterFunction (MemorySize 128, EphemeralStorage 512; a sandbox of its own, since the page
    # cache of what it writes is charged to its group's peak)
    # When it writes 300 MB to /tmp and keeps the file
    result = limits_cloud.invoke("TmpWriterFunction", {"write_tmp_mb": 300})

    # Then the invoke succeeds: the file is on the sandbox's /tmp volume, not in its memory
    assert result.error is None, result.error
    assert result.payload == {"written_mb": 300}


def test_max_memory_used_is_the_sandbox_groups_peak(limits_cloud: LocalCloud) -> None:
    # Given a warm MemoryHogFunction sandbox
    assert limits_cloud.invoke("MemoryHogFunction", {"allocate_mb": 0}).error is None

    # When it holds 64 MB during an invoke
    result = limits_cloud.invoke("MemoryHogFunction", {"allocate_mb": 64})
    assert result.error is None

    # Then that invoke's REPORT (written by the sandbox just after it answers) counts them as Max Memory
    # Used: the cgroup's peak, below the 128 MB limit
    report = wait_for(lambda: report_of(limits_cloud, "MemoryHogFunction", result.payload["request_id"]),
                      timeout_s=10, what="the invoke's REPORT line")
    assert 64 <= int(report["Max Memory Used"].removesuffix(" MB")) < 128


def test_an_sqs_batch_whose_invoke_was_killed_for_memory_comes_back_whole(limits_cloud: LocalCloud) -> None:
    # Given HogQueue (maxReceiveCount 1, so a batch that comes back moves to HogDeadLetterQueue) and its
    # 128 MB consumer with ReportBatchItemFailures
    stack, sqs = limits_cloud.stack, limits_cloud.aws.sqs
    bodies = [json.dumps({"allocate_mb": 0, "n": 1}), json.dumps({"allocate_mb": 0, "n": 2}),
              json.dumps({"allocate_mb": 400, "n": 3})]

    # When one batch holds two small records and one that allocates 400 MB (the runtime is killed mid-batch)
    sqs.send_message_batch(QueueUrl=stack.queues["HogQueue"].url,
                           Entries=[{"Id": str(index), "MessageBody": body} for index, body in enumerate(bodies)])

    # Then no message was deleted, not even the two processed before the kill: all three come back and
    # SQS moves them to the dead-letter queue
    dead_letter_url = stack.queues["HogDeadLetterQueue"].url
    received: list[str] = []

    def all_dead_lettered() -> bool:
        received.extend(message["Body"] for message in
                        sqs.receive_message(QueueUrl=dead_letter_url, MaxNumberOfMessages=10).get("Messages", []))
        return len(received) >= 3

    wait_for(all_dead_lettered, timeout_s=60, what="the killed batch's three messages in HogDeadLetterQueue")
    assert sorted(received) == sorted(bodies)
    stats = limits_cloud.runtime_status()["pollers"]["HogConsumerFunctionHogQueueEvent"]
    assert stats["records_completed"] == 0
    assert stats["batches_failed"] >= 1
    assert limits_cloud.runtime_status()["functions"]["HogConsumerFunction"]["exits"] >= 1


@pytest.mark.measures_cpu
@pytest.mark.parametrize(("function", "memory_mb"), [("CpuProbe512Function", 512), ("CpuProbe1024Function", 1024)])
def test_the_cpu_share_is_memory_size_over_1769_vcpu(limits_cloud: LocalCloud, function: str, memory_mb: int) -> None:
    # Given a CPU-limited function of this memory size, busy on two processes (the cores it sees)
    share = memory_mb / 1769

    # When it spins for two seconds of wall-clock time
    result = limits_cloud.invoke(function, {"window_s": 2.0, "processes": 2})

    # Then its processes together got about memory / 1,769 of a core: never more (the quota is hard),
    # and not far less (a busy shared machine may take some)
    assert result.error is None, result.error
    assert share * 0.6 <= result.payload["cpu_share"] <= share * 1.15, result.payload


@pytest.mark.measures_cpu
def test_without_cpu_limits_the_same_function_gets_more_than_its_share(limits_cloud: LocalCloud) -> None:
    # Given UnlimitedCpuProbeFunction: 512 MB like CpuProbe512Function, not named by --cpu-limits
    # When it spins on two processes for two seconds
    result = limits_cloud.invoke("UnlimitedCpuProbeFunction", {"window_s": 2.0, "processes": 2})

    # Then it had far more than 512 / 1769 of a core: the quota above is what held the other back
    assert result.error is None, result.error
    assert result.payload["cpu_share"] > 512 / 1769 * 1.5, result.payload


@pytest.mark.parametrize(("function", "memory_mb"), [("CpuProbe512Function", 512), ("CpuProbe5307Function", 5307)])
def test_visible_cores_follow_memory_size(limits_cloud: LocalCloud, function: str, memory_mb: int) -> None:
    # Given this machine's cores and the cores Lambda shows at this memory size
    invoker = limits_cloud.invoker
    assert isinstance(invoker, SubprocessInvoker) and invoker.limits is not None
    host = invoker.limits.host_cpus
    expected = min(visible_cores(memory_mb), len(host))

    # When the function reports the cores its process may run on
    result = limits_cloud.invoke(function, {"window_s": 0.0})

    # Then it sees Lambda's number, capped by this machine, and a cap is said by name
    assert result.error is None, result.error
    assert result.payload["cores"] == list(host[:expected])
    capped = visible_cores(memory_mb) > len(host)
    words = invoker.resource_limits()[function]["cpu"]
    assert ("capped by this machine" in words) == capped, words
    if capped:
        assert any(function in warning for warning in invoker.limits.warnings(limits_cloud.stack.functions))


def test_status_says_which_limits_are_in_force_for_each_function(limits_cloud: LocalCloud) -> None:
    # When the runtime status is read
    limits = limits_cloud.runtime_status()["resource_limits"]

    # Then memory is limited for every function, CPU only for those --cpu-limits named
    assert limits["MemoryHogFunction"] == {"memory": "128 MB hard limit, no swap", "cpu": "not limited (--cpu-limits)"}
    assert limits["CpuProbe512Function"]["cpu"].startswith("0.29 vCPU quota (28943 us per 100000 us), ")
    assert limits["UnlimitedCpuProbeFunction"]["cpu"] == "not limited (--cpu-limits)"


def test_limits_are_released_when_workers_stop(limits_cloud: LocalCloud, tmp_path: Path) -> None:
    # Given an invoker of its own with memory limits, whose worker is warm (its group exists)
    limits = SandboxLimits(memory=True, cpu="off", function_ids=limits_cloud.stack.functions, state_dir=tmp_path)
    invoker = SubprocessInvoker(limits_cloud.stack, endpoint_url=limits_cloud.config.endpoint_url,
                                log_dir=tmp_path / "logs", limits=limits)
    try:
        assert invoker.invoke("MemoryHogFunction", {"allocate_mb": 0}).error is None
        assert len(group_dirs(invoker)) == 1
        roots = limits.tree.roots
        # When a worker is killed for memory, Then its group goes with it (the next worker has a new one)
        assert invoker.invoke("MemoryHogFunction", {"allocate_mb": 400}).error is not None
        assert group_dirs(invoker) == []
        assert invoker.invoke("MemoryHogFunction", {"allocate_mb": 0}).error is None
        assert len(group_dirs(invoker)) == 1
    finally:
        # When the invoker stops
        invoker.stop()

    # Then no group of it is left, nor its record
    assert roots and not any(root.exists() for root in roots)
    assert not (tmp_path / CGROUPS_FILE).exists()


def test_down_removes_the_groups_a_killed_up_left_behind(limits_cloud: LocalCloud, tmp_path: Path) -> None:
    # Given the groups of a local cloud killed before its cleanup, one still holding a process
    limits = SandboxLimits(memory=True, cpu="off", function_ids=limits_cloud.stack.functions, state_dir=tmp_path)
    group = limits.group_for(limits_cloud.stack.functions["MemoryHogFunction"])
    assert group is not None
    leftover = subprocess.Popen(group.wrap(["sleep", "300"]))
    roots = limits.tree.roots
    try:
        wait_for(lambda: any((path / "cgroup.procs").read_text().strip() for _, path in group.directories.values()),
                 timeout_s=10, what="the process in its group")

        # When `localcloud down` runs on that state directory
        assert main(["down", "--state-dir", str(tmp_path)]) == 0

        # Then the process is gone and so are the groups and their record
        assert leftover.wait(timeout=10) == -9
        assert not any(root.exists() for root in roots)
        assert not (tmp_path / CGROUPS_FILE).exists()
    finally:
        leftover.kill()
        limits.release_all()


def test_a_cpu_limit_for_a_function_the_stack_does_not_have_is_refused_by_name() -> None:
    # When --cpu-limits names a function that is not deployed, Then the limits refuse it, naming it
    with pytest.raises(LimitsRefused, match="NoSuchFunction"):
        SandboxLimits(memory=True, cpu=frozenset({"NoSuchFunction"}), function_ids=["MemoryHogFunction"],
                      controllers={})


def test_cpu_limits_are_refused_by_name_with_the_docker_invoker(tmp_path: Path) -> None:
    # Given a cloud asked for the Docker invoker with CPU limits (sam local has no CPU setting)
    cloud = LocalCloud(CloudConfig(port=0, state_dir=tmp_path, invoker="docker", cpu_limits="all"))

    # When it starts, Then it refuses before anything runs, naming the option and why
    with pytest.raises(LimitsRefused, match=r"--cpu-limits is not possible with --invoker docker"):
        cloud.start()
    assert cloud.endpoint is None
