"""The Aggregate step: every item's outcome, from either Map mode, -> one report (see fanout_report)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fanout_aggregate_config import FanOutAggregateConfig
from fanout_report import build_report
from fanout_results import (
    complete_outcomes,
    outcome_from_result,
    outcomes_from_manifest,
    parse_aggregate_event,
)

from lambda_toolkit.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class FanOutAggregator:
    s3: S3Client
    config: FanOutAggregateConfig

    def aggregate(self, event: Any) -> dict[str, Any]:
        request = parse_aggregate_event(event)
        if isinstance(request.results, list):
            raw = [outcome_from_result(result, fallback_index=None) for result in request.results]
        else:
            raw = outcomes_from_manifest(
                self.s3, request.results.ResultWriterDetails, allowed_bucket=self.config.FANOUT_BUCKET_NAME
            )
        outcomes = complete_outcomes(raw, request.item_count)
        report: dict[str, Any] = build_report(request, outcomes, self.config)
        metrics.add_metric(name="FanOutItemsFailed", unit=MetricUnit.Count, value=report["items_failed"])
        logger.info(
            "Job aggregated",
            extra={key: report[key] for key in (
                "job_id", "n", "k", "mode", "prime_count", "complete", "items_failed", "matches_known_value",
                "straggler_ratio",
            )},
        )
        return report
