"""Serial vs threads vs processes speed-up of the CPU benchmark's own logic, on this machine.

    python bench/cpu_speedup.py [--workload primes] [--size 1000000] [--repeats 5]

Worker counts are 1..cores and 2 x cores (cores = CPUs this process may run on). Every configuration
runs once per repeat, interleaved, and medians are compared side by side. Writes
bench/results/cpu_speedup.png (speed-up against workers, with the ideal line) and cpu_speedup.md.
Targets: processes with workers = cores reach >= 0.9 x cores; threads stay near 1x (GIL).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

import matplotlib as mpl  # noqa: E402

mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import psutil  # noqa: E402
from cpu_benchmark_models import BenchmarkReport, BenchmarkRequest, CpuBenchmarkConfig  # noqa: E402
from cpu_benchmark_run import run_benchmark  # noqa: E402
from cpu_environment import cpu_affinity  # noqa: E402

PROCESSES_TARGET_EFFICIENCY = 0.9
THREADS_NEAR_ONE = 1.25
BUSY_PERCENT = 20


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workload", default="primes", choices=["primes", "sha256_chain"])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--start-method", choices=["fork", "forkserver", "spawn"], default=None)
    args = parser.parse_args()

    cores = len(cpu_affinity() or range(os.cpu_count() or 1))
    request = BenchmarkRequest(
        workload=args.workload,
        size=args.size,
        workers=[*range(1, cores + 1), 2 * cores],
        modes=["serial", "threads", "processes"],
        repeats=args.repeats,
        start_method=args.start_method,
    )
    busy = background_load()
    started = time.perf_counter()
    # Generous: the estimate still refuses a run that would take hours.
    report = run_benchmark(request, config=CpuBenchmarkConfig(), deadline=time.monotonic() + 3600)
    elapsed = time.perf_counter() - started

    table = markdown_table(report)
    verdicts = targets(report, cores)
    print(f"{report.workload} size {report.size:,}, {report.repeats} repeats, {cores} cores, "
          f"start method {report.environment.start_method}, Python {report.environment.python_version}, "
          f"{elapsed:.1f} s in all")
    print(busy)
    print(f"cost model: one serial run predicted {report.estimate.serial_run_s:.2f} s, measured "
          f"{report.measurements[0].median_s:.2f} s; whole run predicted {report.estimate.total_s:.1f} s "
          "(with its safety factor)")
    print(table)
    print(*verdicts, sep="\n")
    print(*(f"- {note}" for note in report.notes), sep="\n")

    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(report, cores, RESULTS / "cpu_speedup.png")
    (RESULTS / "cpu_speedup.md").write_text(markdown_document(report, table, [busy, *verdicts], cores))
    print(f"wrote {RESULTS / 'cpu_speedup.png'} and {RESULTS / 'cpu_speedup.md'}")
    return 0 if all(verdict.startswith("PASS") for verdict in verdicts) else 1


def background_load() -> str:
    """How busy the machine was just before the run: other work on a shared host eats the speed-up."""
    busy = psutil.cpu_percent(interval=1.0)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    warning = " - WARNING: other work is running, speed-ups will read low" if busy > BUSY_PERCENT else ""
    return f"machine busy before the run: {busy:.0f}% of all CPUs (load average {load}){warning}"


def markdown_table(report: BenchmarkReport) -> str:
    lines = [
        "| mode | workers | median s | speed-up | efficiency | all runs s | verified |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for m in report.measurements:
        runs = ", ".join(f"{seconds:.3f}" for seconds in m.times_s)
        lines.append(f"| {m.mode} | {m.workers} | {m.median_s:.3f} | {m.speedup:.2f}x | {m.efficiency:.0%} "
                     f"| {runs} | {'yes' if m.results_verified else 'NO'} |")
    return "\n".join(lines)


def targets(report: BenchmarkReport, cores: int) -> list[str]:
    at_cores = next(m for m in report.measurements if m.mode == "processes" and m.workers == cores)
    wanted = PROCESSES_TARGET_EFFICIENCY * cores
    best_threads = report.best_speedup["threads"].speedup
    return [
        f"{'PASS' if at_cores.speedup >= wanted else 'FAIL'}: processes with {cores} workers "
        f"{at_cores.speedup:.2f}x (target >= {wanted:.2f}x)",
        f"{'PASS' if best_threads < THREADS_NEAR_ONE else 'FAIL'}: threads best {best_threads:.2f}x "
        f"(target near 1x, < {THREADS_NEAR_ONE}x)",
        f"{'PASS' if report.result.verified else 'FAIL'}: result {report.result.value!r} verified against "
        f"{report.result.reference_source}",
    ]


def plot(report: BenchmarkReport, cores: int, path: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 4.5))
    most = max(m.workers for m in report.measurements)
    axes.plot([1, most], [1, most], linestyle="--", color="grey", label="ideal (speed-up = workers)")
    axes.axhline(report.environment.usable_cpus, linestyle=":", color="black",
                 label=f"usable CPUs ({report.environment.usable_cpus:g})")
    for mode, marker in (("processes", "o"), ("threads", "s")):
        points = [(m.workers, m.speedup) for m in report.measurements if m.mode == mode]
        axes.plot(*zip(*points, strict=True), marker=marker, label=mode)
    axes.set_xlabel("workers")
    axes.set_ylabel("speed-up against serial (median)")
    axes.set_title(f"{report.workload} size {report.size:,} on {cores} cores, {report.repeats} repeats")
    axes.set_xticks(sorted({m.workers for m in report.measurements}))
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def markdown_document(report: BenchmarkReport, table: str, verdicts: list[str], cores: int) -> str:
    env = report.environment
    return "\n".join([
        "# CPU speed-up: serial vs threads vs processes",
        "",
        f"Generated by `python bench/cpu_speedup.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        f"Workload {report.workload} ({report.description}), size {report.size:,}, {report.tasks} tasks, "
        f"{report.repeats} interleaved repeats; {cores} cores (affinity {env.cpu_affinity}), cgroup quota "
        f"{env.cgroup_cpu_quota.cpus if env.cgroup_cpu_quota else 'none'}, start method {env.start_method}, "
        f"Python {env.python_version}.",
        "",
        table,
        "",
        *(f"- {verdict}" for verdict in verdicts),
        "",
        "## Notes",
        "",
        *(f"- {note}" for note in report.notes),
        "",
        "![speed-up against workers](cpu_speedup.png)",
        "",
    ])


if __name__ == "__main__":
    sys.exit(main())
