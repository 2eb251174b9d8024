"""TensorFlow without its start-up noise: the C++ log lines it writes while it loads and looks for GPUs.

Used by `calipso_tf.cli.run` so that a script shows the user only the project's own output.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from typing import Any, Callable, Iterator


# TensorFlow's C++ log lines: absl's "I0000 00:00:1796225511.907644   24899 port.cc:153] ..." (seconds are the
# Unix time before absl is initialised, "I0315 14:44:05.157831" after) and
# tsl's "2025-09-17 14:44:05.157831: I external/.../cudart_stub.cc:32] ..."; group 1 or 2 is the severity.
_NATIVE_LOG_LINE = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] |"
                              r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: ([IWEF]) \S+:\d+\] ")
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def quiet_tensorflow_import() -> None:
    """Makes the first ``import tensorflow`` (wherever it happens) drop the log lines TensorFlow's C++
    code writes while it loads and looks for GPUs.

    Those lines ("oneDNN custom operations are on", cudart_stub's "Could not find cuda drivers",
    absl's InitializeLog warning) are written before TensorFlow reads TF_CPP_MIN_LOG_LEVEL, so the
    variable alone does not silence them. The import and ``tf.config.list_physical_devices()`` run
    with file descriptor 2 captured; the captured lines are then written back except C++ log
    lines below TF_CPP_MIN_LOG_LEVEL (0 = all kept, nothing captured), absl's preamble, and
    "failed call to cuInit" on a machine without an NVIDIA device or with CUDA_VISIBLE_DEVICES
    empty or -1 (no GPU to find). Everything else, Python warnings included, is kept.
    """
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")
    min_level = int(level) if level.isdigit() else 0
    if min_level > 0 and "tensorflow" not in sys.modules and \
            not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder(min_level))


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds "tensorflow" once, with its loader wrapped by `_QuietTensorFlowLoader`."""

    def __init__(self, min_level: int):
        self.min_level = min_level

    def find_spec(self, name: str, path: Any = None, target: Any = None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietTensorFlowLoader(spec.loader, self.min_level)
        return spec


class _QuietTensorFlowLoader(importlib.abc.Loader):
    """Runs TensorFlow's own loader with the start-up log lines filtered; puts that loader back on the module."""

    def __init__(self, loader: importlib.abc.Loader, min_level: int):
        self.loader = loader
        self.min_level = min_level

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__loader__ = module.__spec__.loader = self.loader
        no_gpu = os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1") or not glob.glob("/dev/nvidia[0-9]*")
        with _filtered_stderr(lambda line: not is_start_up_noise(line, self.min_level, no_gpu)):
            self.loader.exec_module(module)
            module.config.list_physical_devices()


def is_start_up_noise(line: str, min_level: int, no_gpu: bool) -> bool:
    """Whether `quiet_tensorflow_import` drops this line TensorFlow wrote while loading (see there)."""
    if line.startswith(_ABSL_PREAMBLE):
        return True
    match = _NATIVE_LOG_LINE.match(line)
    if not match:
        return False
    return (no_gpu and "failed call to cuInit" in line) or "IWEF".index(match.group(1) or match.group(2)) < min_level


@contextlib.contextmanager
def _filtered_stderr(keep: Callable[[str], bool]) -> Iterator[None]:
    """Captures file descriptor 2 (C++ and Python writes alike) while the block runs, then writes the
    captured lines that ``keep`` accepts to stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if keep(line)))
            sys.stderr.flush()
