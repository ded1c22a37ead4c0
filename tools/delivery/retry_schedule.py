"""When the outbox tries a transient failure again: minutes at first, then hours, then gives up.

A transport retries a deferred delivery a few times within one pass (seconds apart, see
`RetryPolicy`); when those run out, or the receiver asks for a longer pause (`Retry-After`), it
raises `DeliveryDeferred` and the outbox owns what follows: the record goes back to `pending`
with a `next_attempt_at` from this schedule, until `max_age` after its first attempt, when it is
`failed` with the last reason. Each retry has one owner: the transport within a pass, the outbox
across passes.

```
attempt      1     2     3     4     5      6      7      8 ...
wait after   1m    2m    4m    8m    16m    32m    64m    2h (longest) ... until max_age (1d)
```
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from gtmflow.clock import parse_duration
from gtmflow.errors import ConfigError

__all__ = ["RetrySchedule"]


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """The outbox's backoff for transient failures (SMTP down or 451, webhook 5xx or 429).

    The wait after failed attempt n (1-based) is `first * factor**(n-1)`, capped at `longest`,
    raised to the receiver's `Retry-After`, plus up to `jitter` (a fraction) of itself so many
    records deferred together do not all come back at once.

    Args:
        first: Wait after the first failed attempt.
        longest: Longest wait between attempts.
        max_age: After this long since the first attempt, a transient failure is final.
        factor: Growth of the wait per attempt.
        jitter: Extra random fraction of each wait, 0 to 1.

    Example:
        >>> schedule = RetrySchedule(jitter=0.0)
        >>> [str(schedule.wait(n)) for n in (1, 2, 3, 9)]
        ['0:01:00', '0:02:00', '0:04:00', '2:00:00']
    """

    first: timedelta = timedelta(minutes=1)
    longest: timedelta = timedelta(hours=2)
    max_age: timedelta = timedelta(days=1)
    factor: float = 2.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.first <= timedelta(0) or self.longest < self.first:
            raise ConfigError(
                f"retry schedule first={self.first}, longest={self.longest} is not valid; "
                "first must be positive and no longer than longest"
            )
        if self.max_age < self.first:
            raise ConfigError(
                f"retry schedule max_age={self.max_age} is shorter than first={self.first}; "
                "nothing would ever be retried: give up later, e.g. max_age = '1d'"
            )
        if not 1 <= self.factor <= 100 or not 0 <= self.jitter <= 1:
            raise ConfigError(
                "retry schedule factor must be between 1 and 100 and jitter between 0 and 1"
            )

    @classmethod
    def from_settings(cls, settings: dict[str, object]) -> RetrySchedule:
        """A schedule from `[outbox.retry]` settings: durations as text ("1m", "2h", "1d")."""
        known = {"first", "longest", "max_age", "factor", "jitter"}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(f"[outbox.retry] has unknown keys {unknown}; known: {sorted(known)}")
        values: dict[str, object] = {}
        for key, value in settings.items():
            if key in ("first", "longest", "max_age"):
                values[key] = parse_duration(str(value))
            elif isinstance(value, int | float) and not isinstance(value, bool):
                values[key] = float(value)
            else:
                raise ConfigError(f"[outbox.retry] {key} = {value!r} must be a number")
        return cls(**values)  # type: ignore[arg-type]

    def wait(self, attempts: int, retry_after: float | None = None) -> timedelta:
        """How long to wait after `attempts` failed attempts (and a receiver's `Retry-After`)."""
        growth = self.factor ** min(max(attempts - 1, 0), 64)
        base = min(self.first.total_seconds() * growth, self.longest.total_seconds())
        base = max(base, retry_after or 0.0)
        return timedelta(seconds=base * (1 + random.uniform(0, self.jitter)))
