"""One exception tree for gtmflow, split by whose fault it is.

```
GtmflowError                 anything gtmflow raises on purpose
├── ConfigError              the developer's mistake: a bad rule, graph wiring, config or argument
├── InputError               the data's fault: a row, file or payload that does not validate
└── RunError                 the world failed: a store, a transport, a model
    └── StoreError           the workspace database could not be read or written
```

Catch `GtmflowError` to handle everything gtmflow raises; catch a branch to handle one kind of
fault. Every message says what is wrong, why, and how to fix it, quoting names as `'name'`.
"""

from __future__ import annotations

__all__ = ["ConfigError", "GtmflowError", "InputError", "RunError", "StoreError"]


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
