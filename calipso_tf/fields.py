"""Validators for the fields of parsed JSON and pickle records, for every reader of input files.

Each raises ValueError whose message starts with ``where`` (the file, then the record)
and names the field. Pure numpy (no TensorFlow import), so the numpy evaluators stay
quick to import; data_prep re-raises these errors as its ``DataError``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np


def require_list(value: Any, where: str, what: str) -> list:
    """``value``, which must be a list (of ``what``, as the message says)."""
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list of {what}, got {type(value).__name__}")
    return value


def require_object(value: Any, where: str) -> dict:
    """``value``, which must be a JSON object (a dict)."""
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def get_field(record: Any, key: str, where: str, kind: type | None = None) -> Any:
    """``record[key]``, an instance of ``kind`` when given; else a ValueError naming ``where`` and the field."""
    try:
        value = record[key]
    except (KeyError, TypeError, IndexError):
        raise ValueError(f"{where}: missing field '{key}'") from None
    if kind is not None and not isinstance(value, kind):
        raise ValueError(f"{where}: field '{key}' must be a {kind.__name__}, got {type(value).__name__}")
    return value


def get_list(record: Any, key: str, where: str) -> list:
    """``record[key]``, which must be a list."""
    return get_field(record, key, where, list)


def is_number(value: Any) -> bool:
    """A JSON number: int or float, not bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fits(value, width: int) -> bool:
    try:
        return np.asarray(value, dtype=np.float64).shape == (() if width == 1 else (width,))
    except (TypeError, ValueError):
        return False


def numeric_table(rows: list, fields: list[tuple[str, int]], where: str) -> np.ndarray:
    """Numeric fields of a list of dicts as one float64 table, vectorised.

    Args:
      rows: the records. fields: (key, width) pairs; width 1 is a number, k > 1 a list of k.
      where: location prefix for errors, which read ``{where}[{row}]: field '{key}' ...``.

    Returns:
      (len(rows), sum of widths) float64 array, fields side by side.
    """
    keys = [key for key, _ in fields]
    try:
        values = list(map(operator.itemgetter(*keys), rows))
        columns = zip(*values) if len(keys) > 1 else [values]
        table = [np.array(column, dtype=np.float64).reshape(len(rows), w) for column, (_, w) in zip(columns, fields)]
        return np.concatenate(table, axis=1) if rows else np.zeros((0, sum(w for _, w in fields)))
    except (KeyError, TypeError, ValueError, IndexError):
        pass
    for k, row in enumerate(rows):  # slow path, only to name the faulty record
        for key, w in fields:
            value = get_field(row, key, f"{where}[{k}]")
            if not _fits(value, w):
                what = "a number" if w == 1 else f"a list of {w} numbers"
                raise ValueError(f"{where}[{k}]: field '{key}' must be {what}, got {value!r}")
    raise ValueError(f"{where}: malformed records")


def integer_columns(table: np.ndarray, keys: list[str], where: str) -> np.ndarray:
    """(N, K) float ``table`` as int64; a non-integral entry raises naming ``{where}[{row}]`` and its key."""
    table = np.asarray(table).reshape(len(table), len(keys))
    bad = ~np.isfinite(table) | (table != np.round(table))
    if bad.any():
        k, j = np.argwhere(bad)[0]
        raise ValueError(f"{where}[{k}]: field '{keys[j]}' must be an integer, got {table[k, j]!r}")
    return table.astype(np.int64)
