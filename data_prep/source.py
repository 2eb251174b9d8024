"""What a dataset reader hands to the shard writer, and the bad-input policy.

A reader turns one dataset layout into a ``DatasetSource``: class lists plus, per
split, ``HoiRecord``s without image bytes. Malformed input goes through ``Issues``:
by default the record is skipped, counted by reason and a warning is kept for the
log; in strict mode the first one raises ``DataError``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import re

from calipso_tf import fileio
from calipso_tf.data.manifest import Category
from calipso_tf.data.records import HoiRecord


class DataError(ValueError):
    """Malformed dataset input; the message names the file, the record and the field."""


@dataclasses.dataclass
class Issues:
    """Skip-and-count policy for bad records (strict: raise on the first)."""

    strict: bool = False
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def skip(self, reason: str, message: str) -> None:
        if self.strict:
            raise DataError(message)
        self.skipped[reason] += 1
        self.warnings.append(f"skipped ({reason}): {message}")


@dataclasses.dataclass
class FileNames:
    """The first record of each image file name in one split: a later record naming the same
    file is a bad record (``duplicate_filename``), since both would be stored with that one image."""

    issues: Issues
    first: dict[str, str] = dataclasses.field(default_factory=dict)

    def admit(self, filename: str, record: str, where: str) -> bool:
        """True for the first record of filename (record: how the reader numbers it, e.g. "entry 12");
        for a later one, skips it through issues (DataError in strict mode) and returns False."""
        if filename in self.first:
            self.issues.skip("duplicate_filename", f"{where}: image/filename {filename!r} of {record} is already the "
                                                   f"file of {self.first[filename]}")
            return False
        self.first[filename] = record
        return True


@dataclasses.dataclass
class SplitSource:
    """One split as read: records in file order, where to find their images, reader counts.

    image_dirs: folders searched in order for each record's file name. counts: events
    that do not drop a record (e.g. invisible HICO HOIs). annotations: the ground-truth
    file evaluation reads when it is not source; instances / image_ids: the V-COCO
    evaluation files of the split (empty elsewhere).
    """

    name: str
    source: str
    records: list[HoiRecord]
    image_dirs: list[str]
    issues: Issues
    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    annotations: str = ""
    instances: str = ""
    image_ids: str = ""


@dataclasses.dataclass
class DatasetSource:
    """A dataset as read: verbs[i] is verb index i; objects are the known object categories."""

    name: str
    verbs: list[Category]
    objects: list[Category]
    splits: list[SplitSource]

    @property
    def person_category_id(self) -> int:
        persons = [c.id for c in self.objects if c.name == "person"]
        if not persons:
            raise DataError(f"{self.name}: no object category named 'person' in {[c.name for c in self.objects]}")
        return persons[0]


def image_id_from_filename(filename: str, fallback: int) -> int:
    """The last run of digits in a file name (HICO_train2015_00000012.jpg -> 12), else fallback."""
    digits = re.findall(r"\d+", filename)
    return int(digits[-1]) if digits else fallback


@contextlib.contextmanager
def data_errors():
    """Re-raises a FileNotFoundError or ValueError of the block (calipso_tf's readers and
    field validators, whose messages name the file and field) as DataError, same message."""
    try:
        yield
    except DataError:
        raise
    except (FileNotFoundError, ValueError) as e:
        raise DataError(str(e)) from e


def load_json(path: str):
    """Parsed JSON file; DataError naming the file when it is missing or not JSON."""
    with data_errors():
        return fileio.load_json(path)
