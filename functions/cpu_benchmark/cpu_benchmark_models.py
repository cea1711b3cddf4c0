"""Configuration, request, report and error types of the CPU benchmark."""

from __future__ import annotations

from typing import Any, Literal

from cpu_environment import EnvironmentReport
from cpu_workloads import WORKLOADS, WorkloadName
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lambda_toolkit.config import FunctionConfig
from lambda_toolkit.errors import PermanentError
from lambda_toolkit.validation import permanent_error

Mode = Literal["serial", "threads", "processes"]
StartMethod = Literal["fork", "forkserver", "spawn"]

# Far above the 6 cores Lambda shows at most, and well below the workloads' task count.
MAX_WORKERS = 32
MAX_WORKER_COUNTS = 8
MAX_REPEATS = 15
# Small requests, many of them: enough to time threads against processes, few enough to stay cheap
# (each GetItem of a missing item is half a read request unit).
MAX_IO_REQUESTS = 5_000


class CpuBenchmarkConfig(FunctionConfig):
    """Environment variables (template.yaml, CpuBenchmarkFunction)."""

    # Set by the Lambda runtime; absent when running locally.
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: int | None = Field(default=None, ge=128)
    # Stop this long before the function's timeout so that a clear error, not a kill, ends the invoke.
    CPU_BENCHMARK_SAFETY_MARGIN_MS: int = Field(default=3000, ge=0)
    # None = the platform default (fork on Linux up to 3.13, forkserver from 3.14).
    CPU_BENCHMARK_START_METHOD: StartMethod | None = None
    # The table the I/O workload reads (ItemsTable); unset, an event asking for I/O is refused.
    IO_BENCHMARK_TABLE_NAME: str | None = None


class ModeSweep(BaseModel):
    """How a half of the benchmark is run: in which modes, at which worker counts, how many times."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workers: list[int] = Field(min_length=1, max_length=MAX_WORKER_COUNTS)
    modes: list[Mode] = Field(min_length=1)
    repeats: int = Field(default=3, ge=1, le=MAX_REPEATS)

    @field_validator("workers")
    @classmethod
    def _workers_in_range(cls, workers: list[int]) -> list[int]:
        out_of_range = [count for count in workers if not 1 <= count <= MAX_WORKERS]
        if out_of_range:
            raise ValueError(f"worker counts must be between 1 and {MAX_WORKERS}, got {out_of_range}")
        return sorted(set(workers))

    @field_validator("modes")
    @classmethod
    def _unique_modes(cls, modes: list[Mode]) -> list[Mode]:
        return list(dict.fromkeys(modes))

    @property
    def parallel_modes(self) -> list[Mode]:
        return [mode for mode in self.modes if mode != "serial"]


class IoBenchmarkRequest(ModeSweep):
    """The I/O half: ``requests`` small DynamoDB GetItem calls, serially and spread over threads or processes."""

    requests: int = Field(ge=1, le=MAX_IO_REQUESTS)

    @property
    def label(self) -> str:
        return f"{self.requests:,} DynamoDB GetItem requests"


class BenchmarkRequest(ModeSweep):
    """A direct-invoke event. Serial always runs too: it is the baseline of every speed-up."""

    workload: WorkloadName
    size: int = Field(gt=0, description="primes: count below N; sha256_chain: total rounds")
    start_method: StartMethod | None = None
    # The I/O half of the report (threads win there, processes for CPU); none when absent.
    io: IoBenchmarkRequest | None = None

    @model_validator(mode="after")
    def _size_fits_workload(self) -> BenchmarkRequest:
        workload = WORKLOADS[self.workload]
        if not workload.min_size <= self.size <= workload.max_size:
            raise ValueError(
                f"size for {self.workload} must be between {workload.min_size:,} and "
                f"{workload.max_size:,}, got {self.size:,}"
            )
        return self

    @property
    def label(self) -> str:
        return f"{self.workload} at size {self.size:,}"


class BenchmarkInputError(PermanentError):
    """The event cannot be benchmarked as asked (malformed, or too big for the time left)."""

    @classmethod
    def from_validation(cls, error: ValidationError) -> BenchmarkInputError:
        return permanent_error(error, "invalid_input", root="event", error_type=cls)


class BenchmarkDeadlineExceeded(PermanentError):
    """The run did not finish before the safety margin; the same event would fail the same way."""


class Estimate(BaseModel):
    calibration_s: float
    serial_run_s: float
    total_s: float
    budget_s: float
    io_s: float = 0.0  # the I/O half's share of total_s


class Measurement(BaseModel):
    mode: Mode
    workers: int
    times_s: list[float]
    median_s: float
    speedup: float
    efficiency: float
    results_verified: bool


class VerifiedResult(BaseModel):
    value: Any
    reference: Any
    reference_source: str
    verified: bool


class IoReport(BaseModel):
    """The I/O half: each mode's median time for the same requests, and the speed-up over serial."""

    description: str
    requests: int
    repeats: int
    table_name: str
    serial_request_ms: float  # one request's median round trip, from the serial runs
    result: VerifiedResult
    measurements: list[Measurement]
    best_speedup: dict[str, Measurement]
    notes: list[str]


class BenchmarkReport(BaseModel):
    workload: WorkloadName
    description: str
    size: int
    repeats: int
    tasks: int
    result: VerifiedResult
    environment: EnvironmentReport
    estimate: Estimate
    measurements: list[Measurement]
    best_speedup: dict[str, Measurement]
    notes: list[str]
    io: IoReport | None = None  # the I/O half, when the event asked for it
    # From the handler's start to the report, in ms: what the invoke is billed for, give or take the runtime's
    # own milliseconds (a sweep reads Lambda's REPORT line where it can).
    handler_duration_ms: float | None = None
