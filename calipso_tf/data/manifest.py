"""The dataset manifest: the JSON file written next to the TFRecord shards.

It is the one place later stages read class lists and training statistics from:
verb and object names, shard files per split, and for each verb the set L_v of object
categories that occur as its target in the split trained on (used by gamma_push), and per split
the largest record (boxes, triplets) the input pipeline pads to.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from calipso_tf.constants import PERSON_CATEGORY_ID
from calipso_tf.fileio import write_json_atomic

MANIFEST_NAME = "manifest.json"


@dataclasses.dataclass
class Category:
    id: int
    name: str


PATH_FIELDS = ("annotations", "instances", "image_ids")  # Split fields holding a file path


@dataclasses.dataclass
class Split:
    """Shard files (relative to the manifest's folder) and the split's ground-truth files.

    annotations: the annotation file evaluation reads (HICO-DET JSON layout, or V-COCO's
    vcoco_{split}.json); instances / image_ids: V-COCO's COCO instances file and the
    split's image-id list (empty for other datasets). In manifest.json these paths are
    relative to the manifest's folder (a moved dataset folder keeps working); ``load``
    makes them absolute. Manifests of earlier versions hold absolute paths, read as they are.

    max_boxes / max_triplets: the most boxes / triplets one record of the split holds after
    cleaning, and max_boxes_record / max_triplets_record the file name of the first record
    holding them; None in manifests of earlier versions (not recorded).
    """

    shards: list[str]
    num_examples: int
    annotations: str = ""
    instances: str = ""
    image_ids: str = ""
    max_boxes: int | None = None
    max_boxes_record: str = ""
    max_triplets: int | None = None
    max_triplets_record: str = ""


@dataclasses.dataclass
class Manifest:
    """Class lists, splits and training statistics of one converted dataset.

    verbs[i] is network verb index i; objects lists the dataset's object categories
    (person first). verb_target_categories[i] is L_v for verb i (object category ids).
    hoi_train_counts maps "object_id,verb_id" (dataset ids) to the number of training
    triplets; rare_hois / non_rare_hois split the "object_id,verb_id" categories seen in
    any split by that count (rare: fewer than 10).
    """

    dataset: str
    verbs: list[Category]
    objects: list[Category]
    splits: dict[str, Split]
    verb_target_categories: list[list[int]]
    hoi_train_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    rare_hois: list[str] = dataclasses.field(default_factory=list)
    non_rare_hois: list[str] = dataclasses.field(default_factory=list)
    person_category_id: int = PERSON_CATEGORY_ID
    statistics_split: str = "train"
    statistics: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def num_verbs(self) -> int:
        return len(self.verbs)

    def shard_paths(self, split: str, root: str) -> list[str]:
        if split not in self.splits:
            raise KeyError(f"{os.path.join(root, MANIFEST_NAME)}: no split {split!r}; has {sorted(self.splits)}")
        return [os.path.join(root, s) for s in self.splits[split].shards]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Manifest":
        data = dict(data)
        data["verbs"] = [Category(**c) for c in data["verbs"]]
        data["objects"] = [Category(**c) for c in data["objects"]]
        data["splits"] = {k: Split(**v) for k, v in data["splits"].items()}
        return cls(**data)


def _with_paths(manifest: Manifest, convert) -> Manifest:
    """A copy of manifest with ``convert(path)`` applied to every non-empty Split path field."""
    splits = {name: dataclasses.replace(split, **{field: convert(getattr(split, field))
                                                  for field in PATH_FIELDS if getattr(split, field)})
              for name, split in manifest.splits.items()}
    return dataclasses.replace(manifest, splits=splits)


def save(manifest: Manifest, root: str) -> str:
    """Writes root/manifest.json atomically, the split file paths relative to root; returns its path."""
    path = os.path.join(root, MANIFEST_NAME)
    write_json_atomic(path, _with_paths(manifest, lambda p: os.path.relpath(p, root)).to_json())
    return path


def _missing(path: str, root: str) -> FileNotFoundError:
    """The error for a dataset folder without manifest: where it was looked for, and what to do."""
    relative = "" if os.path.isabs(root) else f" ({root!r} is relative to the working directory {os.getcwd()})"
    folder = os.path.dirname(path) or "."
    return FileNotFoundError(f"{os.path.abspath(path)}: no dataset manifest{relative}; convert a dataset there with "
                             f"`python -m data_prep --output {folder} ...`, or point data.data_dir "
                             "(--set data.data_dir=PATH) at the folder holding manifest.json")


def load(root: str) -> Manifest:
    """The manifest of the dataset folder root (or the manifest file root), split paths made absolute."""
    path = root if root.endswith(".json") else os.path.join(root, MANIFEST_NAME)
    if not os.path.exists(path):
        raise _missing(path, root)
    with open(path) as f:
        try:
            manifest = Manifest.from_json(json.load(f))
        except (KeyError, TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: malformed manifest ({e})") from e
    folder = os.path.dirname(os.path.abspath(path))
    return _with_paths(manifest, lambda p: os.path.normpath(os.path.join(folder, p)))
