"""An inline Map state runs at most 40 iterations at once, as AWS runs it, in moto 5.2.5's interpreter.

"In Inline mode, the Map state supports up to 40 concurrent iterations"
(step-functions/latest/dg/state-map-inline.html; MaxConcurrency 0, the default, means as many as that
allows). moto starts one worker thread per item when MaxConcurrency is 0, and MaxConcurrency workers
when it is larger, so 100 items ran 100 at once. Before an inline Map's iterations start, the number of
workers is cut to min(MaxConcurrency or the item count, 40). A distributed Map (its child executions,
up to 10,000 at once) keeps moto's count: its component is a subclass, and is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.inline_iteration_component import (
    InlineIterationComponent,
)

INLINE_MAP_MAX_CONCURRENCY: Final = 40
_APPLIED_ATTRIBUTE: Final = "localcloud_inline_cap"


def apply() -> None:
    if getattr(InlineIterationComponent, _APPLIED_ATTRIBUTE, False):
        return
    setattr(InlineIterationComponent, _APPLIED_ATTRIBUTE, True)
    InlineIterationComponent._eval_body = _capped(InlineIterationComponent._eval_body)  # type: ignore[method-assign]


def inline_workers(max_concurrency: int, item_count: int) -> int:
    """How many iterations an inline Map runs at once: MaxConcurrency (0 = no limit of its own), at most 40."""
    wanted = max_concurrency if max_concurrency > 0 else item_count
    return max(1, min(wanted, INLINE_MAP_MAX_CONCURRENCY))


def _capped(eval_body: Callable[..., None]) -> Callable[..., None]:
    def evaluate(self: Any, env: Any) -> None:
        if not isinstance(self, DistributedIterationComponent) and env.stack:
            eval_input = env.stack[-1]
            items = getattr(eval_input, "input_items", None)
            if isinstance(items, list) and items:
                eval_input.max_concurrency = inline_workers(int(eval_input.max_concurrency or 0), len(items))
        eval_body(self, env)

    return evaluate
