"""`benchmarks/bench_report.py`: a benchmark rewrites only its own section of RESULTS.md."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from .benchmark_modules import load_benchmark


def report() -> ModuleType:
    return load_benchmark("bench_report")


def test_a_section_is_replaced_whole_and_a_longer_heading_is_left_alone(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text(
        "# Results\n\n## Scale, session 3\n\nkept\n\n## Scale\n\nold\nlines\n\n## Writing\n\nw\n"
    )

    report().replace_section(results, "Scale", "new\n")

    assert results.read_text() == (
        "# Results\n\n## Scale, session 3\n\nkept\n\n## Writing\n\nw\n\n## Scale\n\nnew\n"
    )


def test_a_missing_section_or_file_is_added_at_the_end(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    report().replace_section(results, "Graph overhead", "| a |")
    report().replace_section(results, "Writing", "w")

    assert results.read_text() == "## Graph overhead\n\n| a |\n\n## Writing\n\nw\n"


def test_a_marker_another_script_keeps_after_the_section_stays(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("## Workers\n\nold\n\n<!-- scale.py -->\n\n## Scale\n\ns\n")

    report().replace_section(results, "Workers", "new")

    assert results.read_text() == "<!-- scale.py -->\n\n## Scale\n\ns\n\n## Workers\n\nnew\n"
