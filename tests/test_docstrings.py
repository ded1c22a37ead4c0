"""Examples in docstrings are executed, so they stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import gtmflow

SUBPACKAGES = ("agents", "graphs", "tools", "prompts", "examples")


def _modules() -> list[str]:
    """Every module of the package, sub-packages (rooms) included."""
    names = ["gtmflow"]
    packages = [gtmflow] + [importlib.import_module(f"gtmflow.{s}") for s in SUBPACKAGES]
    for package in packages:
        if package is not gtmflow:
            names.append(package.__name__)
        names += [m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]
    return sorted({n for n in names if not n.endswith("__main__")})


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
