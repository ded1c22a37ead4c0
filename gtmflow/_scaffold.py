"""Files `gtmflow init` writes into a new workspace."""

from __future__ import annotations

from pathlib import Path

__all__ = ["scaffold"]

RULES_PY = '''"""This workspace's rules: the three classic automation rules.

Edit freely; `gtmflow run` reloads this file every time. Each rule reads like what it does.
"""

from gtmflow import pipes as p

RULES = [
    # Someone downloads an ebook: enrol them in the nurture sequence.
    p.Rule(
        "ebook-nurture",
        when=p.event("content_download", asset_type="ebook"),
        then=p.enroll("nurture"),
    ),
    # Three pricing-page views within 7 days: tell sales.
    p.Rule(
        "pricing-hot",
        when=p.count("page_view", path="/pricing", at_least=3, within="7d"),
        then=p.alert_sales("Viewed pricing 3+ times in 7 days"),
    ),
    # No email opened for 30 days: re-engage.
    p.Rule(
        "re-engage",
        when=p.inactive("email_open", for_="30d"),
        then=p.enroll("re-engagement"),
    ),
]
'''

GTMFLOW_TOML = """# gtmflow workspace settings
[gtmflow]
rules = "rules:RULES"      # module:attribute; rules.py in this folder comes first

[outbox]
transport = "file"         # "file": .gtmflow/delivered.jsonl, or "console"
"""


def scaffold(root: Path, *, overwrite: bool = False) -> list[Path]:
    """Write `gtmflow.toml` and `rules.py` into `root`; existing files are kept unless asked."""
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("gtmflow.toml", GTMFLOW_TOML), ("rules.py", RULES_PY)):
        path = root / name
        if overwrite or not path.exists():
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
