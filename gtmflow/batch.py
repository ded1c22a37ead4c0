"""Async batch runs across contacts: bounded concurrency plus a rate limiter.

Model calls are slow (seconds) and rate-limited by providers, so a batch over many contacts runs
them concurrently, at most `concurrency` in flight and at most `rate` started per second. With a
simulated model of 1 s latency, 200 contacts at concurrency 20 finish in about 10 s
(`benchmarks/agents.py` measures it).

Example:
    >>> import asyncio
    >>> async def double(x: int) -> int:
    ...     await asyncio.sleep(0.01)
    ...     return 2 * x
    >>> asyncio.run(run_batch(double, range(5), concurrency=2))
    [0, 2, 4, 6, 8]
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal, TypeVar, overload

from gtmflow.errors import ConfigError

__all__ = ["RateLimiter", "run_batch"]

In = TypeVar("In")
Out = TypeVar("Out")


class RateLimiter:
    """An asyncio token bucket: at most `rate` acquisitions per second, bursts up to `burst`.

    Args:
        rate: Tokens added per second.
        burst: Bucket size; how many acquisitions may happen at once after a quiet spell.
    """

    def __init__(self, rate: float, *, burst: int | None = None) -> None:
        if rate <= 0:
            raise ConfigError(f"rate={rate} must be > 0 calls per second (None: no limit)")
        self.rate = rate
        self.burst = burst or max(1, int(rate))
        self._tokens = float(self.burst)
        self._updated: float | None = None
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until a token is available, then take it (callers are served in order)."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            while True:
                now = loop.time()
                if self._updated is not None:
                    elapsed = now - self._updated
                    self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)


@overload
async def run_batch(
    fn: Callable[[In], Awaitable[Out]],
    items: Iterable[In],
    *,
    concurrency: int = ...,
    rate: float | None = ...,
    burst: int | None = ...,
    errors: Literal["raise"] = ...,
    on_done: Callable[[int], None] | None = ...,
) -> list[Out]: ...


@overload
async def run_batch(
    fn: Callable[[In], Awaitable[Out]],
    items: Iterable[In],
    *,
    concurrency: int = ...,
    rate: float | None = ...,
    burst: int | None = ...,
    errors: Literal["return"],
    on_done: Callable[[int], None] | None = ...,
) -> list[Out | BaseException]: ...


async def run_batch(
    fn: Callable[[In], Awaitable[Out]],
    items: Iterable[In],
    *,
    concurrency: int = 20,
    rate: float | None = None,
    burst: int | None = None,
    errors: Literal["raise", "return"] = "raise",
    on_done: Callable[[int], None] | None = None,
) -> list[Out] | list[Out | BaseException]:
    """Apply `fn` to every item concurrently; results come back in input order.

    Args:
        fn: The async function to run per item (e.g. an agent's `ainvoke`).
        items: The inputs, e.g. contact ids.
        concurrency: Most calls in flight at once.
        rate: Most calls started per second (None: no limit).
        burst: Token-bucket size for `rate` (default: one second's worth).
        errors: "raise" cancels the rest and raises the first error; "return" puts each
            exception in its item's place.
        on_done: Called with 1 after each item finishes (a progress bar's advance).
    """
    if concurrency < 1:
        raise ConfigError(f"concurrency={concurrency} must be >= 1")
    gate = asyncio.Semaphore(concurrency)
    limiter = RateLimiter(rate, burst=burst) if rate else None

    async def one(item: In) -> Out:
        async with gate:
            if limiter is not None:
                await limiter.acquire()
            try:
                return await fn(item)
            finally:
                if on_done is not None:
                    on_done(1)

    tasks = [one(item) for item in items]
    if errors == "return":
        return list(await asyncio.gather(*tasks, return_exceptions=True))
    async with asyncio.TaskGroup() as group:
        running = [group.create_task(task) for task in tasks]
    return [task.result() for task in running]
