from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from tests.support.handlers import load_handler_module
from tests.unit.conftest import MotoAccount


@dataclass
class SqsWorkerWorld:
    account: MotoAccount
    items: Any
    dlq_url: str
    app: ModuleType

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.account.drain(self.dlq_url)

    def stored_orders(self) -> list[dict[str, Any]]:
        return list(self.items.scan()["Items"])


@pytest.fixture
def sqs_worker(moto_account: MotoAccount, template_table: Any, monkeypatch: pytest.MonkeyPatch) -> SqsWorkerWorld:
    # Given the template's tables and a dead-letter queue, and the function configured for them
    items = template_table("ItemsTable")
    dlq_url = moto_account.queue("WorkDeadLetterQueue")
    monkeypatch.setenv("ITEMS_TABLE_NAME", "ItemsTable")
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dlq_url)
    monkeypatch.setenv("DEADLINE_SAFETY_MARGIN_MS", "1000")
    return SqsWorkerWorld(moto_account, items, dlq_url, load_handler_module("sqs_worker"))
