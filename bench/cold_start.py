"""Cold start: each function's init (module import and module-scope setup) against two references.

    python bench/cold_start.py [--runs 7]

Each measurement is a fresh `python -c` process (nothing cached in memory, .pyc files warm as on a
reused Lambda image; the candidates are taken in turn each round, so load hits all alike) that
times, with perf_counter, the import of the function's app.py with the
environment template.yaml gives it; the median of --runs is reported. References, measured the same
way in the same run:

- bare boto3: a handler module that only imports boto3 and creates its DynamoDB and SQS clients;
- Powertools: a handler module of the same shape as ours (boto3 clients, Logger, Metrics, Tracer, the
  BatchProcessor and the idempotency utility imported at module scope).

Goal: each function's init <= 1.2x the Powertools reference. Writes bench/results/cold_start.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TARGET = 1.2

COMMON_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "bench", "POWERTOOLS_METRICS_NAMESPACE": "bench", "STAGE": "dev",
    "ITEMS_TABLE_NAME": "ItemsTable", "AGGREGATES_TABLE_NAME": "AggregatesTable",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/WorkDeadLetterQueue",
    "FANOUT_BUCKET_NAME": "fanout-bucket", "FANOUT_MAX_CONCURRENCY": "4", "FANOUT_WORKER_MEMORY_MB": "1024",
    "FANOUT_WORKER_TIMEOUT_S": "60",
}

TIMED = """
import importlib.util, sys, time
start = time.perf_counter()
{body}
print(time.perf_counter() - start)
"""

IMPORT_APP = """
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
"""

BARE_BOTO3 = """
import boto3
dynamodb = boto3.resource("dynamodb").Table("ItemsTable")
sqs = boto3.client("sqs")
"""

POWERTOOLS = """
import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel
logger, metrics, tracer = Logger(), Metrics(), Tracer()
processor = BatchProcessor(event_type=EventType.SQS)
table = boto3.resource("dynamodb").Table("ItemsTable")
sqs = boto3.client("sqs")
persistence = DynamoDBPersistenceLayer(table_name="IdempotencyTable")
"""


def one_run(body: str, cwd: Path) -> float:
    env = {**os.environ, **COMMON_ENV}
    output = subprocess.run([sys.executable, "-c", TIMED.format(body=body)], cwd=cwd, env=env,
                            check=True, capture_output=True, text=True).stdout
    return float(output.strip().splitlines()[-1])


def medians_ms(bodies: dict[str, tuple[str, Path]], runs: int) -> dict[str, float]:
    """Round-robin: every candidate once per round, so that load on a shared machine hits all alike."""
    for body, cwd in bodies.values():
        one_run(body, cwd)  # warms the .pyc files, as a reused image has them
    samples: dict[str, list[float]] = {name: [] for name in bodies}
    for _ in range(runs):
        for name, (body, cwd) in bodies.items():
            samples[name].append(one_run(body, cwd))
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    folders = sorted(p for p in (ROOT / "functions").iterdir() if (p / "app.py").exists())
    bodies = {"bare boto3": (BARE_BOTO3, ROOT), "Powertools": (POWERTOOLS, ROOT)}
    bodies.update({folder.name: (IMPORT_APP.format(path=str(folder / "app.py")), folder) for folder in folders})
    medians = medians_ms(bodies, args.runs)
    bare, powertools = medians["bare boto3"], medians["Powertools"]
    rows = [(f.name, medians[f.name], medians[f.name] / powertools, medians[f.name] / bare) for f in folders]
    lines = [
        "# Cold start: init medians (`make bench-cold-start`)", "",
        f"Median of {args.runs} fresh processes each; bare boto3 reference {bare:.0f} ms, "
        f"Powertools reference {powertools:.0f} ms. Target: <= {TARGET}x Powertools.", "",
        "| function | init ms | / Powertools | / bare boto3 | target met |", "|---|---:|---:|---:|---|",
    ]
    lines += [f"| {name} | {init:.0f} | {vs_pt:.2f}x | {vs_bare:.2f}x | {'yes' if vs_pt <= TARGET else 'no'} |"
              for name, init, vs_pt, vs_bare in rows]
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cold_start.md").write_text(text)
    print(text)
    print(json.dumps({name: round(vs_pt, 3) for name, _, vs_pt, _ in rows}))


if __name__ == "__main__":
    main()
