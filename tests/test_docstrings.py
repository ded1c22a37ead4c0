"""Examples in docstrings are executed, so they stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import gtmflow

SUBPACKAGES = ("agents", "graphs", "tools", "prompts", "examples")


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(gtmflow.__path__, "gtmflow.")]
    for sub in SUBPACKAGES:
        package = importlib.import_module(f"gtmflow.{sub}")
        names += [f"gtmflow.{sub}"]
        names += [m.name for m in pkgutil.iter_modules(package.__path__, f"gtmflow.{sub}.")]
    return sorted(n for n in names if not n.endswith("__main__"))


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
