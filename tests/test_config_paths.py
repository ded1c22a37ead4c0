"""Paths in `gtmflow.toml` stay inside the workspace unless a person opts in; module specs
name modules, never files elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from gtmflow import Workspace
from gtmflow.config import WorkspaceConfig, load_graphs, load_rules, load_sequences
from gtmflow.errors import ConfigError
from gtmflow.tools.context.context_store import ContextStore
from gtmflow.tools.delivery.transport_config import build_transports

RULES = "from gtmflow import pipes as p\nRULES = []\n"


def _toml(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "gtmflow.toml").write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize("key", ["rules", "sequences", "graphs"])
@pytest.mark.parametrize(
    "spec", ["../x:RULES", "/tmp/x:RULES", "sub/x:RULES", "x.py:RULES", "x:not-a-name"]
)
def test_a_module_spec_that_is_a_path_is_a_config_error(
    tmp_path: Path, key: str, spec: str
) -> None:
    (tmp_path / "x.py").write_text(RULES, encoding="utf-8")  # ../x.py of the workspace
    root = _toml(tmp_path / "ws", f'[gtmflow]\n{key} = "{spec}"\n')

    with pytest.raises(ConfigError, match="module:attribute"):
        WorkspaceConfig.load(root)


@pytest.mark.parametrize("load", [load_rules, load_sequences, load_graphs])
def test_loaders_refuse_a_path_spec_too(tmp_path: Path, load: object) -> None:
    (tmp_path / "x.py").write_text(RULES, encoding="utf-8")
    root = tmp_path / "ws"
    root.mkdir()

    with pytest.raises(ConfigError, match=r"'\.\./x' is not a module name"):
        load("../x:RULES", root=root)  # type: ignore[operator]


def test_dotted_module_specs_still_load(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "my_rules.py").write_text(RULES, encoding="utf-8")

    assert load_rules("pkg.my_rules:RULES", root=tmp_path) == []


def _transports(root: Path, table: dict[str, object]) -> object:
    return build_transports(table, root=root, state_dir=root / ".gtmflow", contacts=lambda _: None)


@pytest.mark.parametrize("path", ["../outside.jsonl", "/tmp/gtmflow-outside.jsonl"])
def test_a_file_transport_outside_the_workspace_needs_an_opt_in(tmp_path: Path, path: str) -> None:
    root = tmp_path / "ws"
    root.mkdir()

    with pytest.raises(ConfigError, match=r"outside the workspace.*allow_outside_workspace = true"):
        _transports(root, {"audit": {"type": "file", "path": path}})

    _transports(root, {"audit": {"type": "file", "path": path, "allow_outside_workspace": True}})
    _transports(root, {"audit": {"type": "file", "path": "logs/audit.jsonl"}})


def test_a_symlink_that_leads_outside_counts_as_outside(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "logs").symlink_to(tmp_path / "elsewhere")

    with pytest.raises(ConfigError, match="outside the workspace"):
        _transports(root, {"audit": {"type": "file", "path": "logs/audit.jsonl"}})


@pytest.mark.parametrize("kind", ["smtp", "webhook"])
def test_a_ca_file_outside_the_workspace_needs_an_opt_in(tmp_path: Path, kind: str) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    outside = tmp_path / "ca.pem"
    outside.write_text("not a certificate", encoding="utf-8")
    base: dict[str, object] = (
        {"host": "localhost", "from": "a@x.io", "security": "none"}
        if kind == "smtp"
        else {"url": "https://example.com/hook"}
    )

    with pytest.raises(ConfigError, match=r"ca_file .*outside the workspace"):
        _transports(root, {kind: {**base, "ca_file": str(outside)}})
    with pytest.raises(ConfigError, match=r"ca_file .*outside the workspace"):
        _transports(root, {kind: {**base, "ca_file": "../ca.pem"}})
    with pytest.raises(ConfigError) as opted_in:  # past the path check: the PEM itself is bad
        _transports(root, {kind: {**base, "ca_file": "../ca.pem", "allow_outside_workspace": True}})
    assert "outside the workspace" not in str(opted_in.value)


def test_a_context_path_outside_the_workspace_needs_an_opt_in(tmp_path: Path) -> None:
    root = _toml(tmp_path / "ws", '[context]\npath = "../chroma"\nembedding = "hashing"\n')

    with pytest.raises(ConfigError, match=r"\[context\] path = '../chroma' is outside"):
        ContextStore.for_workspace(root)
    assert not (tmp_path / "chroma").exists()

    _toml(
        root,
        '[context]\npath = "../chroma"\nembedding = "hashing"\nallow_outside_workspace = true\n',
    )
    ContextStore.for_workspace(root).close()
    assert (tmp_path / "chroma").is_dir()


def test_an_outbox_path_key_is_refused_with_where_it_goes(tmp_path: Path) -> None:
    root = _toml(tmp_path / "ws", '[outbox]\npath = "/var/log/sent.jsonl"\n')

    with pytest.raises(
        ConfigError, match=r"\[outbox\] has unknown keys \['path'\].*type = \"file\""
    ):
        Workspace.open(root)
