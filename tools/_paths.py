"""Paths named in `gtmflow.toml`, kept inside the workspace unless a person opts out.

A configuration file is often copied between machines and repositories; a path in it that
leaves the workspace (`../`, an absolute path, a symlink that leads out) would write actions,
keep a database or trust certificates somewhere nobody looks. Such a path is a `ConfigError`
unless its table says `allow_outside_workspace = true`.
"""

from __future__ import annotations

from pathlib import Path

from gtmflow.errors import ConfigError

__all__ = ["workspace_path"]


def workspace_path(root: Path, value: str, *, key: str, allow_outside: bool) -> Path:
    """`value` (relative to `root`, `~` expanded) once it is inside `root` or allowed out.

    Args:
        root: The workspace folder.
        value: The path as written in the configuration.
        key: How the configuration names it, for the message (e.g. `[context] path`).
        allow_outside: The table's `allow_outside_workspace` setting.

    Raises:
        ConfigError: The path resolves (symlinks followed) outside `root` and is not allowed.
    """
    path = root / Path(value).expanduser()
    if allow_outside:
        return path
    resolved, home = path.resolve(), root.resolve()
    if resolved == home or resolved.is_relative_to(home):
        return path
    raise ConfigError(
        f"{key} = '{value}' is outside the workspace '{home}' (it resolves to '{resolved}'); "
        "put it inside the workspace, or set allow_outside_workspace = true in the same table "
        "if that is what you mean"
    )
