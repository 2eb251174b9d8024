"""File helpers shared by every stage: atomic writes and JSON reads that name the file.

Pure Python (no TensorFlow import), so the numpy evaluators stay quick to import.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any, Callable


def atomic_write(path: str, write_fn: Callable, mode: str = "w") -> None:
    """Calls ``write_fn(file)`` on a temporary file next to ``path``, then renames it over
    ``path``: readers see the old file or the complete new one, never a partial write."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, mode.replace("w", "x")) as f:
            write_fn(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str, payload: Any) -> None:
    """Writes ``payload`` as indented JSON with :func:`atomic_write`."""
    atomic_write(str(path), lambda f: json.dump(payload, f, indent=1))


def load_json(path: str):
    """Parsed JSON file; FileNotFoundError or ValueError naming the file otherwise."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
