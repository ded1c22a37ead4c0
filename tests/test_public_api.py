"""The curated public API is a promise: changing it must be a deliberate act."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gtmflow

ROOT = str(Path(__file__).resolve().parents[1])

EXPECTED = {
    "Workspace", "RunReport", "Deps", "GtmflowState",
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


def test_bare_subpackage_names_are_not_importable(tmp_path: Path) -> None:
    """`import tools` must never mean gtmflow's tools, whatever the checkout's folder is called.

    Run from a clean working directory outside the checkout, as a user's script would be: the
    test must not depend on the name of the folder the repository was cloned into.
    """
    code = (
        "import importlib.util, json\n"
        "names = ('tools', 'agents', 'graphs', 'prompts', 'examples')\n"
        "found = {n: getattr(importlib.util.find_spec(n), 'origin', None) for n in names}\n"
        "print(json.dumps(found))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    found = json.loads(out.stdout)
    ours = {name: origin for name, origin in found.items() if origin and origin.startswith(ROOT)}
    assert not ours, f"bare names resolve to gtmflow's sub-packages: {ours}"
