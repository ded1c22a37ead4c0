"""The curated public API is a promise: changing it must be a deliberate act."""

from __future__ import annotations

import gtmflow

EXPECTED = {
    "Workspace", "RunReport", "Deps",
    "pipes", "Rule", "RuleSet",
    "Action", "Contact", "ContentItem", "Deal", "Event", "RouteDecision", "Touchpoint",
    "Transcript", "Utterance", "json_schemas",
    "Clock", "SystemClock", "VirtualClock", "parse_duration",
    "GtmflowError", "ConfigError", "InputError", "RunError", "StoreError",
    "__version__",
}  # fmt: skip


def test_all_is_locked() -> None:
    assert set(gtmflow.__all__) == EXPECTED
    assert len(gtmflow.__all__) == len(set(gtmflow.__all__))


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in gtmflow.__all__:
        value = getattr(gtmflow, name)
        if name != "__version__" and not isinstance(value, str):
            assert value.__doc__, f"gtmflow.{name} has no docstring"


def test_bare_subpackage_names_are_not_importable() -> None:
    import importlib.util

    for name in ("tools", "agents", "graphs", "prompts", "examples"):
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec else None
        assert spec is None or "gtmflow" not in str(origin), f"bare '{name}' is gtmflow's"
