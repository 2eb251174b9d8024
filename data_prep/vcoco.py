"""V-COCO reader for the official s-gupta/v-coco layout.

Under the v-coco ``data`` folder: ``vcoco/vcoco_{split}.json`` (26 per-action dicts with
``action_name``, ``role_name``, ``image_id``, ``ann_id``, ``label`` and the flat,
role-major ``role_object_id``; read and validated by ``calipso_tf.evaluation.vcoco.load_actions``),
``instances_vcoco_all_2014.json`` (COCO instances of the V-COCO images) and
``splits/vcoco_{split}.ids`` (one image id per line).

Verbs: every (action, role) with an object role is one verb ``<action>_<role>`` (eat_obj,
eat_instr); an agent-only action (stand, walk, run, smile) is one verb named after the
action, without target. A positive whose role object id is 0 has no target (-1).
Instances of an image: every annotated person plus every referenced role object,
in COCO annotation id order; boxes [x, y, w, h] -> [x, y, x + w, y + h].

Besides train, val and test, the split ``trainval`` (train then val, as the paper trains on)
is written with shards of its own; the manifest's L_v and HOI counts come from it.
"""

from __future__ import annotations

import os

import numpy as np

from calipso_tf.constants import NO_TARGET
from calipso_tf.data.manifest import Category
from calipso_tf.data.records import HoiRecord
from calipso_tf.evaluation.vcoco import load_actions
from calipso_tf.fields import get_list
from data_prep.source import DataError, DatasetSource, FileNames, Issues, SplitSource, data_errors, load_json

SPLITS = ("train", "val", "test")
TRAIN_SPLIT = "trainval"  # the split trained on: the records of TRAIN_PARTS in order
TRAIN_PARTS = ("train", "val")
INSTANCES = "instances_vcoco_all_2014.json"
COCO_IMAGE_FOLDERS = ("train2014", "val2014")


def _actions_path(root: str, split: str) -> str:
    return os.path.join(root, "vcoco", f"vcoco_{split}.json")


def _verbs(actions: list[dict]) -> list[tuple[str, int, int]]:
    """(verb name, action position, role column) per verb of `load_actions` entries; role column 0 = agent only."""
    verbs = []
    for a, action in enumerate(actions):
        roles = action["roles"]  # after "agent", which is role column 0
        verbs += [(f"{action['name']}_{role}", a, r) for r, role in enumerate(roles, 1)] if roles else \
                 [(action["name"], a, 0)]
    return verbs


def _rows(actions: list[dict], verbs: list[tuple[str, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """-> persons (P, 2) [image id, ann id] of every annotated agent; triplets (T, 4)
    [image id, agent ann id, object ann id or 0, verb index] of every positive."""
    persons, triplets = [], []
    columns = []
    for action in actions:
        image, ann = action["image_id"], action["ann_id"]
        persons.append(np.column_stack([image, ann]))
        columns.append((image, ann, action["label"] == 1, action["role_object_id"]))
    for v, (_, a, r) in enumerate(verbs):
        image, ann, positive, roles = columns[a]
        target = roles[positive, r] if r else np.zeros(positive.sum(), np.int64)
        triplets.append(np.column_stack([image[positive], ann[positive], target, np.full(len(target), v)]))
    return np.concatenate(persons), np.concatenate(triplets)


def _group(keys: np.ndarray, rows: np.ndarray) -> dict[int, np.ndarray]:
    """Rows (N, ...) grouped by keys (N,) -> {key: rows in original order}."""
    order = np.argsort(keys, kind="stable")
    unique, starts = np.unique(keys[order], return_index=True)
    return dict(zip(unique.tolist(), np.split(rows[order], starts[1:])))


def _record(image: dict, person_anns: np.ndarray, triplets: np.ndarray, annotations: dict[int, dict],
            where: str, issues: Issues) -> HoiRecord | None:
    """One image -> HoiRecord; triplets (T, 4) as in _rows, ann ids resolved through annotations."""
    targets = triplets[:, 2]
    ann_ids = np.unique(np.concatenate([person_anns, triplets[:, 1], targets[targets > 0]]))
    foreign = [a for a in ann_ids.tolist() if annotations.get(a, {}).get("image_id") != image["id"]]
    if foreign:
        issues.skip("unknown_annotation", f"{where}: ann_id / role_object_id {foreign[0]} is not a COCO annotation "
                                          f"of image {image['id']} in {INSTANCES}")
        return None
    xywh = np.asarray([annotations[a]["bbox"] for a in ann_ids.tolist()], np.float32).reshape(-1, 4)
    index = np.searchsorted(ann_ids, triplets[:, 1:3])
    return HoiRecord(
        filename=image["file_name"], image_id=int(image["id"]), height=int(image["height"]), width=int(image["width"]),
        boxes=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1),
        category_ids=np.asarray([annotations[a]["category_id"] for a in ann_ids.tolist()], np.int64),
        triplets=np.column_stack([index[:, 0], np.where(targets > 0, index[:, 1], NO_TARGET), triplets[:, 3]]))


def _read_split(root: str, split: str, actions: list[dict], verbs, images: dict[int, dict],
                annotations: dict[int, dict], image_dirs: list[str], strict: bool) -> SplitSource:
    path = _actions_path(root, split)
    ids_path = os.path.join(root, "splits", f"vcoco_{split}.ids")
    if _verbs(actions) != verbs:
        raise DataError(f"{path}: its actions and roles differ from those of vcoco_train.json")
    persons, triplets = _rows(actions, verbs)
    persons_of, triplets_of = _group(persons[:, 0], persons[:, 1]), _group(triplets[:, 0], triplets)
    issues, records = Issues(strict), []
    names = FileNames(issues)
    for k, image_id in enumerate(np.loadtxt(ids_path, dtype=np.int64, ndmin=1).tolist(), 1):
        where = f"{path}: image {image_id}"
        if image_id not in images:
            issues.skip("unknown_image", f"{where}: image id from {ids_path} is not in {INSTANCES}")
            continue
        record = _record(images[image_id], persons_of.get(image_id, np.zeros(0, np.int64)),
                         triplets_of.get(image_id, np.zeros((0, 4), np.int64)), annotations, where, issues)
        if record is not None and names.admit(record.filename, f"image {image_id} (id {k} in {ids_path})", where):
            records.append(record)
    return SplitSource(split, path, records, image_dirs, issues,
                       instances=os.path.join(root, INSTANCES), image_ids=ids_path)


def _union(name: str, parts: list[SplitSource], strict: bool) -> SplitSource:
    """One split of the records of parts, in order. Their warnings are logged with the parts; the skip
    counts carry over. No evaluation files: no vcoco_<name>.json or image-id list exists for it."""
    issues = Issues(strict)
    for part in parts:
        issues.skipped.update(part.issues.skipped)
    return SplitSource(name, " + ".join(part.source for part in parts), [r for part in parts for r in part.records],
                       parts[0].image_dirs, issues, instances=parts[0].instances)


def read_vcoco(root: str, images_dir: str, strict: bool) -> DatasetSource:
    """The v-coco ``data`` folder (or the repository above it) -> DatasetSource with splits train, val, test
    and trainval.

    Images are looked up in images_dir, then images_dir/train2014 and images_dir/val2014.
    """
    if os.path.isdir(os.path.join(root, "data", "vcoco")):
        root = os.path.join(root, "data")
    path = os.path.join(root, INSTANCES)
    coco = load_json(path)
    with data_errors():
        images = {img["id"]: img for img in get_list(coco, "images", path)}
        annotations = {ann["id"]: ann for ann in get_list(coco, "annotations", path)}
        categories = sorted(get_list(coco, "categories", path), key=lambda c: c["id"])
        actions = {split: load_actions(_actions_path(root, split)) for split in SPLITS}
    objects = [Category(int(c["id"]), c["name"]) for c in categories]
    verbs = _verbs(actions["train"])
    image_dirs = [images_dir] + [os.path.join(images_dir, folder) for folder in COCO_IMAGE_FOLDERS]
    splits = [_read_split(root, split, actions[split], verbs, images, annotations, image_dirs, strict)
              for split in SPLITS]
    splits.append(_union(TRAIN_SPLIT, [s for s in splits if s.name in TRAIN_PARTS], strict))
    return DatasetSource("vcoco", [Category(i + 1, name) for i, (name, _, _) in enumerate(verbs)], objects, splits)
