"""The drain's linger (WEBHOOK_BATCH_LINGER_MS): after a batch of several, what is queued
waits briefly until as many deliveries are queued as are in flight (those queued and those the
batch answered), so a burst keeps its batches whole instead of splitting into two that take
turns; a delivery arriving alone is never held.

The batches' database work is not what these tests are about (tests/integration/
test_webhook_batch.py covers it): `_run` here records each batch and answers it, and the first
batch waits for the test's signal so deliveries can arrive while it runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mentora.services import Services
from mentora.webhooks.batch import Batcher, _Pending
from mentora.webhooks.envelope import parse_envelope
from mentora.webhooks.verify import VerifiedDelivery
from tests.support.timeline import START
from tests.support.webhooks import event_body


class Recording(Batcher):
    """A batcher whose batches are recorded and answered "processed"; the first one is held
    until `release` is set."""

    def __init__(self, services: Services) -> None:
        """A recording batcher on the running loop."""
        super().__init__(services, asyncio.get_running_loop())
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()

    async def _run(self, batch: list[_Pending]) -> None:
        self.batches.append([item.delivery.webhook_id for item in batch])
        if len(self.batches) == 1:
            await self.release.wait()
        for item in batch:
            item.answer.set_result("processed")


def _submit(batcher: Batcher, msg_id: str) -> asyncio.Task[str]:
    body = event_body("future.event", {})
    delivery = VerifiedDelivery(webhook_id=msg_id, timestamp=START, body=body, scheme="standard")
    return asyncio.create_task(batcher.submit(delivery, parse_envelope(body), {}))


async def _until(condition: Any, what: str) -> None:
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(what)


async def _straggler_behind_four(batcher: Recording) -> list[asyncio.Task[str]]:
    """A batch of four running while one more delivery queues, then the four answered; the
    five requests' tasks, the straggler last."""
    tasks = [_submit(batcher, f"first_{n}") for n in range(4)]
    await _until(lambda: batcher.batches, "the first batch never started")
    tasks.append(_submit(batcher, "late_1"))
    await _until(lambda: len(batcher._queue) == 1, "the straggler never queued")
    batcher.release.set()
    return tasks


def _lingering(services: Services, ms: float) -> Services:
    services.settings = services.settings.model_copy(update={"webhook_batch_linger_ms": ms})
    return services


async def test_a_straggler_after_a_batch_waits_for_the_others(services: Services) -> None:
    """A batch of four runs while one more delivery arrives; once the four are answered, that
    one waits (up to the linger) until five are queued, the four answered senders having sent
    again, and the five share a batch: with three of them back it is still waiting."""
    batcher = Recording(_lingering(services, 10_000))
    tasks = await _straggler_behind_four(batcher)
    await _until(lambda: batcher._enough is not None, "the drain did not linger")
    assert batcher._wanted == 5
    tasks.extend(_submit(batcher, f"again_{n}") for n in range(3))
    await _until(lambda: len(batcher._queue) == 4, "the three never queued")
    for _ in range(100):  # the drain gets every chance to take the four early
        await asyncio.sleep(0)
    assert len(batcher.batches) == 1 and batcher._enough is not None
    tasks.append(_submit(batcher, "again_3"))
    answers = await asyncio.gather(*tasks)
    assert answers == ["processed"] * 9
    assert batcher.batches == [
        [f"first_{n}" for n in range(4)],
        ["late_1", *(f"again_{n}" for n in range(4))],
    ]


async def test_the_wait_is_capped_by_the_batch_size(services: Services) -> None:
    """With WEBHOOK_BATCH_MAX at three, after the batch of four the straggler waits for three
    in all, not five; the batch after it takes the rest."""
    services.settings = services.settings.model_copy(update={"webhook_batch_max": 3})
    batcher = Recording(_lingering(services, 10_000))
    tasks = [_submit(batcher, f"first_{n}") for n in range(3)]
    await _until(lambda: batcher.batches, "the first batch never started")
    tasks.append(_submit(batcher, "late_1"))
    await _until(lambda: len(batcher._queue) == 1, "the straggler never queued")
    batcher.release.set()
    await _until(lambda: batcher._enough is not None, "the drain did not linger")
    assert batcher._wanted == 3
    tasks.extend(_submit(batcher, f"again_{n}") for n in range(2))
    assert await asyncio.gather(*tasks) == ["processed"] * 6
    assert batcher.batches == [
        [f"first_{n}" for n in range(3)],
        ["late_1", "again_0", "again_1"],
    ]


async def test_the_linger_ends_with_what_has_come(services: Services) -> None:
    """Nobody else arrives: after the linger, the straggler is taken alone."""
    batcher = Recording(_lingering(services, 20))
    assert await asyncio.gather(*await _straggler_behind_four(batcher)) == ["processed"] * 5
    assert batcher.batches == [[f"first_{n}" for n in range(4)], ["late_1"]]


async def test_a_delivery_arriving_alone_is_not_held(services: Services) -> None:
    """After a batch of one, the next delivery is taken at once: no linger without a burst."""
    batcher = Recording(_lingering(services, 1000))
    batcher.release.set()
    assert await _submit(batcher, "alone_1") == "processed"
    straggler = _submit(batcher, "alone_2")
    await _until(lambda: straggler.done() or batcher._enough is not None, "nothing happened")
    assert batcher._enough is None
    assert await straggler == "processed"
    assert batcher.batches == [["alone_1"], ["alone_2"]]
