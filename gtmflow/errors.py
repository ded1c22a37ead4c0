"""One exception tree for gtmflow, split by whose fault it is.

```
GtmflowError                 anything gtmflow raises on purpose
├── ConfigError              the developer's mistake: a bad rule, graph wiring, config or argument
├── InputError               the data's fault: a row, file or payload that does not validate
└── RunError                 the world failed: a store, a transport, a model
    └── StoreError           the workspace database could not be read or written
        └── StoreUnavailable the store's server is unreachable now (retrying may work)

GtmflowWarning (UserWarning) something a person should see, though the run went on
├── FallbackWarning          an LLM brain failed and the agent's rules backend answered instead
└── InputWarning             input kept only in part: a row a store refused, a zone not known
```

Catch `GtmflowError` to handle everything gtmflow raises; catch a branch to handle one kind of
fault. Every message says what is wrong, why, and how to fix it, quoting names as `'name'`.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "FallbackWarning",
    "GtmflowError",
    "GtmflowWarning",
    "InputError",
    "InputWarning",
    "RunError",
    "StoreError",
    "StoreUnavailable",
]


class GtmflowError(Exception):
    """Root of every exception gtmflow raises on purpose."""


class ConfigError(GtmflowError):
    """The developer's mistake: a bad rule, graph, configuration or argument."""


class InputError(GtmflowError):
    """Input data that does not validate: a row, a file or a payload."""


class RunError(GtmflowError):
    """The world failed while running: a store, a transport or a model."""


class StoreError(RunError):
    """The workspace database could not be read or written."""


class StoreUnavailable(StoreError):
    """The store's server went away or cannot be reached now; the open transaction rolled back.

    Nothing was half-written: retry the batch once the server is back (`gtmflow serve` does,
    with backoff).
    """


class GtmflowWarning(UserWarning):
    """Root of the warnings gtmflow issues: the run went on, but a person should know."""


class FallbackWarning(GtmflowWarning):
    """An LLM brain failed and the agent's rules backend answered instead.

    Issued once per failing call (Python shows each distinct message once); the command line
    prints one `warning:` line per agent and reason. `[brains] on_failure = "error"` turns the
    fallback into a `RunError` instead.
    """

    def __init__(self, agent: str, brain: str, reason: str) -> None:
        self.agent, self.brain, self.reason = agent, brain, reason
        super().__init__(
            f"agent '{agent}' fell back to its rules backend: brain '{brain}' failed ({reason}); "
            'check the model server or key, or set [brains] on_failure = "error" to stop instead'
        )


class InputWarning(GtmflowWarning):
    """Input the run went on without: a row a store refused, a value dropped from a row.

    Ingest reports such rows in its dead letter and report; a direct store write or a run
    that meets one issues this warning, so it is never silently lost.
    """
