"""The Split step: a job -> balanced items, and the choice between an inline and a distributed Map.

Input (the state machine passes it): {"job": <the execution input>, "execution_name": <$$.Execution.Name>}.

Output, read by the state machine's Choice (``mode``) and by the Aggregate step:
    INLINE       {"mode", "job", "item_count", "payload_estimate_bytes", "items": [...]}
                 The inline Map iterates over ``items`` (ItemsPath $.items).
    DISTRIBUTED  {"mode", "job", "item_count", "payload_estimate_bytes", "items_location": {"bucket", "key"}}
                 The items are written to S3 (jobs/<execution>/items.json) as one JSON array, which the
                 distributed Map's ItemReader reads; its ResultWriter writes the child executions'
                 results under results/<map run id>/ in the same bucket.

Mode: DISTRIBUTED when the job has more than FANOUT_INLINE_MAX_ITEMS items (an inline Map runs at
most 40 at once and every iteration's events count against the 25,000-event history), or when the
state payload the inline Map would carry (the items plus, for each, FANOUT_RESULT_BYTES_PER_ITEM for
its result or caught error) exceeds FANOUT_INLINE_MAX_PAYLOAD_BYTES (kept below the 256 KB limit).

Fault injection (dev only): a job may list ``fail_items`` when FANOUT_ALLOW_TEST_FAILURES is true,
which template.yaml sets only when Stage=dev; elsewhere such a job is refused, never silently run.
A listed item is given its range reversed ([stop, start)), so the worker refuses it through its
ordinary input validation (InvalidItemError): the worker has no test-only code path, and what the
state machine catches is a real worker error, not a simulated one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from fanout_job import InvalidJobError, PrimeCountJob, parse_job, plan_ranges
from fanout_split_config import FanOutSplitConfig
from prime_ranges import PrimeRange

from lambda_toolkit.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

Mode = Literal["INLINE", "DISTRIBUTED"]
# Room for the output's keys besides the items and results (job echo, locations, counters).
ENVELOPE_BYTES = 2048


def new_execution_name() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class FanOutSplitter:
    s3: S3Client
    config: FanOutSplitConfig
    new_name: Callable[[], str] = new_execution_name

    def split(self, event: Any) -> dict[str, Any]:
        if not isinstance(event, dict):
            raise InvalidJobError(
                "not_an_object", f"the Split event must be a JSON object, got {type(event).__name__}"
            )
        execution_name = str(event.get("execution_name") or self.new_name())
        job = parse_job(event.get("job"), self.config)
        ranges = plan_ranges(job, self.config)
        items = [_item(prime_range, job) for prime_range in ranges]
        payload_estimate = (
            len(json.dumps(items, separators=(",", ":")))
            + len(items) * self.config.FANOUT_RESULT_BYTES_PER_ITEM
            + ENVELOPE_BYTES
        )
        mode = self.choose_mode(len(items), payload_estimate)
        job_echo = {**job.model_dump(), "job_id": job.job_id or execution_name}
        output: dict[str, Any] = {
            "mode": mode,
            "job": job_echo,
            "item_count": len(items),
            "payload_estimate_bytes": payload_estimate,
        }
        if mode == "INLINE":
            output["items"] = items
        else:
            output.update(self._write_items(execution_name, items))
        metrics.add_metric(name="FanOutItemsPlanned", unit=MetricUnit.Count, value=len(items))
        logger.info(
            "Job split",
            extra={"job_id": job_echo["job_id"], "n": job.n, "k": job.k, "mode": mode,
                   "payload_estimate_bytes": payload_estimate,
                   "injected_failures": sorted(set(job.fail_items))},
        )
        return output

    def choose_mode(self, item_count: int, payload_estimate_bytes: int) -> Mode:
        if item_count > self.config.FANOUT_INLINE_MAX_ITEMS:
            return "DISTRIBUTED"
        if payload_estimate_bytes > self.config.FANOUT_INLINE_MAX_PAYLOAD_BYTES:
            return "DISTRIBUTED"
        return "INLINE"

    def _write_items(self, execution_name: str, items: list[dict[str, int]]) -> dict[str, Any]:
        bucket = self.config.FANOUT_BUCKET_NAME
        key = f"jobs/{execution_name}/items.json"
        self.s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(items, separators=(",", ":")).encode(),
            ContentType="application/json",
        )
        return {"items_location": {"bucket": bucket, "key": key}}


def _item(prime_range: PrimeRange, job: PrimeCountJob) -> dict[str, int]:
    item: dict[str, int] = prime_range.as_item()
    if prime_range.index in job.fail_items:
        # Reversed, so the worker's own validation refuses it (see the module docstring).
        item["start"], item["stop"] = prime_range.stop, prime_range.start
    return item
