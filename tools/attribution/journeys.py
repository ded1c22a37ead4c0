"""Journeys: touch sequences with their outcomes, stored flat for vectorised attribution.

A `Journeys` holds many paths at once, the way numpy likes them: one array of touch keys (`steps`)
cut into paths by `offsets`, and per path the conversions, conversion value and non-converting count
(`nulls`). It is the common input of every attribution model, whether the paths come from the event
store joined to deals (`gtmflow.tools.attribution.touchpoints`) or from the aggregated path files of
the ChannelAttribution package:

```text
path;total_conversions;total_conversion_value;total_null
eta > iota > alpha > eta;1;0.244;3
```

`read_paths` and `write_paths` read and write that format (separators configurable), so
results can be compared with that library. A path read from such a file has no timestamps
and no milestones; journeys built from events carry both.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import methodcaller
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gtmflow.errors import ConfigError, InputError

__all__ = ["PATH_COLUMNS", "Journeys", "read_paths", "sum_by", "write_paths"]

PATH_COLUMNS = ("path", "total_conversions", "total_conversion_value", "total_null")
"""Column names of ChannelAttribution's aggregated path format, in its order."""

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Journeys:
    """Many touch paths and their outcomes, as flat numpy arrays.

    Every path has at least one touch. Build one with `Journeys.from_paths`, `read_paths`, or
    `gtmflow.tools.attribution.touchpoints.build_journeys`.

    Attributes:
        keys: The vocabulary: `keys[i]` is the channel (or content id, ...) of touch code `i`,
            in order of first appearance.
        steps: Touch codes of every path, concatenated.
        offsets: Path `j` is `steps[offsets[j]:offsets[j + 1]]`; length `len(paths) + 1`.
        conversions: Conversions per path (a path row may stand for many journeys).
        values: Conversion value per path (total, not per conversion).
        nulls: Journeys per path that did not convert.
        ages: Optional, per touch: days between the touch and the end of its journey (the
            conversion, or the as-of time of a journey that did not convert).
        lead_at: Optional, per path: index within the path of the lead-creation touch, -1 when
            unknown. Used by the W-shaped model.
        opportunity_at: Optional, per path: index of the opportunity-creation touch, -1 when
            unknown.
        ids: Optional, per path: what each path is (a deal id, a contact id).
        unattributed_conversions: Conversions dropped because they had no touch in the window.
        unattributed_value: Their value.

    Example:
        >>> j = Journeys.from_paths([["a", "b"], ["b"]], conversions=[1, 0], nulls=[0, 1])
        >>> len(j), j.keys, j.path(0)
        (2, ('a', 'b'), ('a', 'b'))
    """

    keys: tuple[str, ...]
    steps: IntArray
    offsets: IntArray
    conversions: FloatArray
    values: FloatArray
    nulls: FloatArray
    ages: FloatArray | None = None
    lead_at: IntArray | None = None
    opportunity_at: IntArray | None = None
    ids: tuple[str, ...] | None = None
    unattributed_conversions: float = 0.0
    unattributed_value: float = 0.0
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_shapes(self)

    @classmethod
    def from_paths(
        cls,
        paths: Sequence[Sequence[str]],
        *,
        conversions: npt.ArrayLike | None = None,
        values: npt.ArrayLike | None = None,
        nulls: npt.ArrayLike | None = None,
        ages: Sequence[Sequence[float]] | None = None,
        lead_at: npt.ArrayLike | None = None,
        opportunity_at: npt.ArrayLike | None = None,
        ids: Sequence[str] | None = None,
    ) -> Journeys:
        """Build journeys from paths of keys (lists of channel names).

        Args:
            paths: One sequence of keys per path; none may be empty.
            conversions: Conversions per path (default 1 each).
            values: Conversion value per path (default 0).
            nulls: Non-converting journeys per path (default 0).
            ages: Per path, per touch, days before the end of the journey.
            lead_at: Per path, index of the lead-creation touch (-1 unknown).
            opportunity_at: Per path, index of the opportunity-creation touch (-1 unknown).
            ids: Per path, an identifier.
        """
        index: dict[str, int] = {}
        codes = [index.setdefault(str(key), len(index)) for path in paths for key in path]
        lengths = np.fromiter((len(p) for p in paths), dtype=np.int64, count=len(paths))
        n = len(paths)
        return cls(
            keys=tuple(index),
            steps=np.asarray(codes, dtype=np.int64),
            offsets=np.concatenate(([0], np.cumsum(lengths))).astype(np.int64),
            conversions=_column(conversions, n, 1.0, "conversions"),
            values=_column(values, n, 0.0, "values"),
            nulls=_column(nulls, n, 0.0, "nulls"),
            ages=None if ages is None else np.asarray([a for p in ages for a in p], dtype=float),
            lead_at=None if lead_at is None else np.asarray(lead_at, dtype=np.int64),
            opportunity_at=(
                None if opportunity_at is None else np.asarray(opportunity_at, dtype=np.int64)
            ),
            ids=None if ids is None else tuple(ids),
        )

    @classmethod
    def parse(
        cls,
        paths: Sequence[str],
        *,
        sep: str = ">",
        conversions: npt.ArrayLike | None = None,
        values: npt.ArrayLike | None = None,
        nulls: npt.ArrayLike | None = None,
    ) -> Journeys:
        """Build journeys from path strings such as `"eta > iota > alpha"`.

        Keys are stripped of surrounding whitespace and empty keys are skipped, as
        ChannelAttribution does; a path with no key at all is an error.
        """
        if not sep:
            raise ConfigError("path separator 'sep' is empty; use e.g. '>'")
        # Each distinct path is split once (a million journeys repeat many paths), and each
        # distinct token stripped once; defaultdicts number new values in order of appearance.
        which, unique = _codes(paths)
        tokens, counts = _tokens(unique, sep) if unique else ([], np.zeros(0, np.int64))
        codes, first = _codes(tokens)
        index: dict[str, int] = {}
        stripped = np.fromiter((index.setdefault(t.strip(), len(index)) for t in first), np.int64)
        codes = stripped[codes]
        blank = index.pop("", None)
        kept = codes != blank if blank is not None else np.ones(len(codes), dtype=bool)
        if blank is not None:  # renumber the keys after the blank one
            codes = codes - (codes > blank)
        owner = np.repeat(np.arange(len(unique)), counts)
        unique_lengths = np.bincount(owner[kept], minlength=len(unique))
        lengths = unique_lengths[which]
        if len(paths) and not lengths.all():
            empty = int(np.flatnonzero(lengths == 0)[0])
            raise InputError(
                f"path {empty + 1} ({paths[empty]!r}) has no channel; every path needs at least "
                f"one key separated by '{sep}'"
            )
        offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        unique_offsets = np.concatenate(([0], np.cumsum(unique_lengths))).astype(np.int64)
        shift = np.repeat(unique_offsets[which] - offsets[:-1], lengths)
        steps = codes[kept][shift + np.arange(offsets[-1])]
        n = len(paths)
        return cls(
            keys=tuple(index),
            steps=steps,
            offsets=offsets,
            conversions=_column(conversions, n, 1.0, "conversions"),
            values=_column(values, n, 0.0, "values"),
            nulls=_column(nulls, n, 0.0, "nulls"),
        )

    # ------------------------------------------------------------------ shape

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __repr__(self) -> str:
        return (
            f"Journeys({len(self)} paths, {len(self.steps)} touches, {len(self.keys)} keys, "
            f"conversions={self.total_conversions:g}, value={self.total_value:g})"
        )

    @property
    def lengths(self) -> IntArray:
        """Touches per path."""
        return np.diff(self.offsets)

    @property
    def owner(self) -> IntArray:
        """Per touch, the index of its path."""
        if "owner" not in self._cache:
            self._cache["owner"] = np.repeat(np.arange(len(self)), self.lengths)
        owner: IntArray = self._cache["owner"]
        return owner

    @property
    def position(self) -> IntArray:
        """Per touch, its index within its path (0 = first)."""
        if "position" not in self._cache:
            self._cache["position"] = np.arange(len(self.steps)) - self.offsets[self.owner]
        position: IntArray = self._cache["position"]
        return position

    @property
    def total_conversions(self) -> float:
        """Conversions over all paths."""
        return float(self.conversions.sum())

    @property
    def total_value(self) -> float:
        """Conversion value over all paths."""
        return float(self.values.sum())

    def path(self, j: int) -> tuple[str, ...]:
        """The keys of path `j`."""
        return tuple(self.keys[c] for c in self.steps[self.offsets[j] : self.offsets[j + 1]])

    def paths(self) -> Iterable[tuple[str, ...]]:
        """Every path's keys, in order."""
        return (self.path(j) for j in range(len(self)))

    def aggregated(self) -> Journeys:
        """Identical paths merged into one row (summing outcomes); ages and milestones drop."""
        rows: dict[tuple[int, ...], int] = {}
        lists = np.split(self.steps, self.offsets[1:-1]) if len(self) else []
        order = [rows.setdefault(tuple(p.tolist()), len(rows)) for p in lists]
        group = np.asarray(order, dtype=np.int64)
        unique = list(rows)
        lengths = np.fromiter((len(p) for p in unique), np.int64, count=len(unique))
        steps = np.fromiter((c for p in unique for c in p), np.int64, count=int(lengths.sum()))
        return Journeys(
            keys=self.keys,
            steps=steps,
            offsets=np.concatenate(([0], np.cumsum(lengths))).astype(np.int64),
            conversions=sum_by(group, self.conversions, len(unique)),
            values=sum_by(group, self.values, len(unique)),
            nulls=sum_by(group, self.nulls, len(unique)),
            unattributed_conversions=self.unattributed_conversions,
            unattributed_value=self.unattributed_value,
        )


def _codes(values: Iterable[str]) -> tuple[IntArray, list[str]]:
    """Each value's code, numbered in order of first appearance, and the distinct values."""
    first: defaultdict[str, int] = defaultdict(itertools.count().__next__)
    codes = np.fromiter(map(first.__getitem__, values), np.int64)
    return codes, list(first)


def _tokens(paths: Sequence[str], sep: str) -> tuple[list[str], IntArray]:
    """Every path's keys, concatenated, and how many each path has."""
    joined = "\n".join(paths)
    if len(sep) == 1 and sep.isascii() and sep != "\n" and joined.count("\n") == len(paths) - 1:
        # Count separators per path on the bytes: no Python code per path.
        raw = np.frombuffer(joined.encode(), dtype=np.uint8)
        starts, ends = _line_bounds(raw)
        counts = _between(np.flatnonzero(raw == ord(sep)), starts, ends) + 1
        return joined.replace("\n", sep).split(sep), counts[: len(paths)]
    counts = np.fromiter(map(methodcaller("count", sep), paths), np.int64, len(paths)) + 1
    return sep.join(paths).split(sep), counts


def read_paths(
    path: str | Path,
    *,
    delimiter: str = ";",
    sep: str = ">",
    columns: Sequence[str] = PATH_COLUMNS,
) -> Journeys:
    """Read a ChannelAttribution-style aggregated path file.

    Args:
        path: CSV file with a header row.
        delimiter: Column separator (`;` in the package's example data).
        sep: Separator between the channels of a path.
        columns: Names of the path, conversions, conversion value and null columns; the last
            two may be absent from the file (value 0, no nulls).

    Raises:
        InputError: A missing path/conversions column or a number that does not parse.
    """
    source = Path(path)
    text = source.read_text(encoding="utf-8-sig")
    table = _plain_table(text, delimiter) or _csv_table(text, delimiter)
    if table is None:
        raise InputError(f"path file '{source}' is empty; it needs a header row {PATH_COLUMNS}")
    header, cells = table
    position = _column_positions(source, [h.strip() for h in header], columns, delimiter)
    path_column = position[0]
    assert path_column is not None  # checked by _column_positions
    numbers = [
        _numbers(source, cells, i, name) for i, name in zip(position[1:], columns[1:], strict=True)
    ]
    return Journeys.parse(
        cells[path_column], sep=sep, conversions=numbers[0], values=numbers[1], nulls=numbers[2]
    )


def write_paths(
    journeys: Journeys,
    path: str | Path | io.TextIOBase,
    *,
    delimiter: str = ";",
    sep: str = " > ",
) -> int:
    """Write journeys in ChannelAttribution's aggregated path format; return rows written.

    Identical paths are merged first, so the file has one row per distinct path.
    """
    merged = journeys.aggregated()
    if any(sep.strip() in key or delimiter in key for key in merged.keys if sep.strip()):
        raise ConfigError(
            f"a key contains the separator '{sep.strip()}' or delimiter '{delimiter}'; choose "
            "separators that no channel or content id uses"
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(PATH_COLUMNS)
    for j, keys in enumerate(merged.paths()):
        writer.writerow(
            [
                sep.join(keys),
                _fmt(merged.conversions[j]),
                _fmt(merged.values[j]),
                _fmt(merged.nulls[j]),
            ]
        )
    if isinstance(path, io.TextIOBase):
        path.write(buffer.getvalue())
    else:
        Path(path).write_text(buffer.getvalue(), encoding="utf-8")
    return len(merged)


def sum_by(index: IntArray, weights: FloatArray, size: int) -> FloatArray:
    """`weights` summed per `index` value into an array of `size` floats (`np.bincount`)."""
    return np.bincount(index, weights, size).astype(np.float64)


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def _column(values: npt.ArrayLike | None, n: int, default: float, name: str) -> FloatArray:
    if values is None:
        return np.full(n, default, dtype=np.float64)
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n,):
        raise ConfigError(f"'{name}' has {array.size} entries for {n} paths; give one per path")
    return array


def _check_shapes(j: Journeys) -> None:
    n = len(j.offsets) - 1
    if n < 0 or j.offsets[0] != 0 or j.offsets[-1] != len(j.steps):
        raise ConfigError("Journeys 'offsets' must start at 0 and end at len(steps)")
    if n and (np.diff(j.offsets) < 1).any():
        raise ConfigError("every path in Journeys needs at least one touch")
    for name in ("conversions", "values", "nulls"):
        array = getattr(j, name)
        if array.shape != (n,):
            raise ConfigError(f"Journeys '{name}' has shape {array.shape}, expected ({n},)")
        if n and (array < 0).any():
            raise InputError(f"Journeys '{name}' has a negative entry; outcomes count up from 0")
    if j.ages is not None and j.ages.shape != j.steps.shape:
        raise ConfigError("Journeys 'ages' needs one entry per touch")
    for name in ("lead_at", "opportunity_at"):
        array = getattr(j, name)
        if array is not None and array.shape != (n,):
            raise ConfigError(f"Journeys '{name}' needs one entry per path")
    if len(j.steps) and (j.steps.min() < 0 or j.steps.max() >= len(j.keys)):
        raise ConfigError("Journeys 'steps' has a code outside the key vocabulary")


def _column_positions(
    source: Path, header: list[str], columns: Sequence[str], delimiter: str
) -> list[int | None]:
    if len(columns) != 4:
        raise ConfigError("'columns' names four columns: path, conversions, value, nulls")
    positions: list[int | None] = [header.index(c) if c in header else None for c in columns]
    for required in (0, 1):
        if positions[required] is None:
            raise InputError(
                f"path file '{source}' has no column '{columns[required]}' (header: {header}); "
                f"check the delimiter (now '{delimiter}') or pass columns="
            )
    return positions


def _plain_table(text: str, delimiter: str) -> tuple[list[str], list[list[str]]] | None:
    """Header and columns of a file without quotes whose rows are all as wide as the header.

    The checks run on the file's bytes with numpy and the cells come from one `str.split` of
    the whole text, so no Python code runs per row. None when the file needs the `csv` module
    (quotes, carriage returns, ragged rows, a blank header).
    """
    if len(delimiter) != 1 or not delimiter.isascii() or '"' in text:
        return None
    text = text.replace("\r\n", "\n").rstrip("\n")
    if "\r" in text:
        return None
    lines = _Lines(text, delimiter)
    if not lines.filled[0]:
        return None
    if not lines.filled.all():  # blank rows inside the file: drop them, then look again
        kept = [line for line, full in zip(text.split("\n"), lines.filled, strict=True) if full]
        text = "\n".join(kept)
        lines = _Lines(text, delimiter)
    width = int(lines.delimiters[0]) + 1
    if (lines.delimiters != width - 1).any():
        return None
    fields = text.replace("\n", delimiter).split(delimiter)
    return fields[:width], [fields[width + i :: width] for i in range(width)]


class _Lines:
    """Per line of a text: delimiters it holds, and whether any of its cells is not blank."""

    def __init__(self, text: str, delimiter: str) -> None:
        raw = np.frombuffer((text or " ").encode(), dtype=np.uint8)
        starts, ends = _line_bounds(raw)
        self.delimiters = _between(np.flatnonzero(raw == ord(delimiter)), starts, ends)
        # A line whose first byte is a letter or digit is filled; look at the others one by one.
        opening = np.where(starts < ends, raw[np.minimum(starts, len(raw) - 1)], 32)
        self.filled = ~_BLANK[opening] & (opening != ord(delimiter))
        for i in np.flatnonzero(~self.filled).tolist():
            line = raw[starts[i] : ends[i]].tobytes().decode()
            self.filled[i] = bool(line.replace(delimiter, "").strip())


def _line_bounds(raw: npt.NDArray[np.uint8]) -> tuple[IntArray, IntArray]:
    """Start and end (exclusive) byte offsets of each newline-separated line."""
    breaks = np.flatnonzero(raw == 10)
    return np.concatenate(([0], breaks + 1)), np.append(breaks, len(raw))


def _between(positions: IntArray, starts: IntArray, ends: IntArray) -> IntArray:
    """How many of the sorted `positions` fall in each [start, end) slice."""
    return np.searchsorted(positions, ends) - np.searchsorted(positions, starts)


_BLANK = np.zeros(256, dtype=bool)
_BLANK[list(b" \t\n\x0b\x0c\r")] = True


def _csv_table(text: str, delimiter: str) -> tuple[list[str], list[list[str]]] | None:
    """Header and columns read by the `csv` module (quotes, ragged rows)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return None
    rows = [r for r in reader if any(cell.strip() for cell in r)]
    width = max([len(header), *map(len, rows)])
    return header, [[r[i] if i < len(r) else "" for r in rows] for i in range(width)]


def _numbers(source: Path, cells: list[list[str]], i: int | None, name: str) -> FloatArray | None:
    if i is None:
        return None
    column = cells[i]
    try:  # `float` on every distinct cell, in C: the usual case
        codes, distinct = _codes(column)
        return np.fromiter(map(float, distinct), np.float64, len(distinct))[codes]
    except ValueError:
        pass  # a blank cell (0) or a bad one (an error naming its line)
    parsed = []
    for line, cell in enumerate(column, 2):
        try:
            parsed.append(float(cell) if cell.strip() else 0.0)
        except ValueError:
            raise InputError(
                f"path file '{source}' line {line}: '{name}' is not a number ({cell!r})"
            ) from None
    return np.asarray(parsed, dtype=np.float64)
