"""HICO-DET readers: the original ``anno_bbox.mat`` release and the PPDM/QPIC JSON layout.

Both give the same records on the same content: boxes in the file's own pixel
coordinates, object classes as COCO ids, verb index = HICO verb id - 1, where the
verb ids 1..117 are the alphabetical order of the verb names (HICO's hico_list_vb,
the ids PPDM / QPIC use). The .mat release stores the boxes of each HOI separately;
the duplicates it creates are merged later by cleaning.
"""

from __future__ import annotations

import collections
import os

import numpy as np
import scipy.io

from calipso_tf.constants import COCO_CATEGORIES
from calipso_tf.data.manifest import Category
from calipso_tf.data.records import HoiRecord
from calipso_tf.vocabularies.vocabulary import hico_verb_names
from data_prep.source import (DataError, DatasetSource, FileNames, Issues, SplitSource, image_id_from_filename,
                              load_json)

COCO_OBJECTS = [Category(i, name) for i, name in COCO_CATEGORIES.items()]
# split -> (JSON layout file, image folder, .mat variable)
SPLITS = {"train": ("trainval_hico.json", "train2015", "bbox_train"),
          "test": ("test_hico.json", "test2015", "bbox_test")}


# ----------------------------------------------------------------------------- JSON layout

def read_json_split(name: str, path: str, image_dir: str, verbs: list[Category], strict: bool) -> SplitSource:
    """One PPDM/QPIC JSON file -> SplitSource. hoi ``object_id`` -1 means no target (synthetic extension)."""
    entries = load_json(path)
    verb_index = {v.id: i for i, v in enumerate(verbs)}
    issues, records = Issues(strict), []
    names = FileNames(issues)
    for n, entry in enumerate(entries):
        where = f"{path}: record {entry.get('file_name') if isinstance(entry, dict) else None!r} (entry {n})"
        try:
            filename = str(entry["file_name"])
            boxes = np.asarray([a["bbox"] for a in entry["annotations"]], np.float32).reshape(-1, 4)
            categories = np.asarray([a["category_id"] for a in entry["annotations"]], np.int64)
            rows = [(h["subject_id"], h["object_id"], h["category_id"]) for h in entry["hoi_annotation"]]
        except (KeyError, TypeError, ValueError) as e:
            issues.skip("malformed_entry", f"{where}: malformed entry ({type(e).__name__}: {e})")
            continue
        unknown = [v for _, _, v in rows if v not in verb_index]
        if unknown:
            issues.skip("unknown_verb", f"{where}: hoi_annotation category_id {unknown[0]} is not a known verb id")
            continue
        if not names.admit(filename, f"entry {n}", where):
            continue
        records.append(HoiRecord(
            filename=filename, image_id=int(entry.get("img_id", image_id_from_filename(filename, n + 1))),
            height=int(entry.get("height", 0)), width=int(entry.get("width", 0)), boxes=boxes, category_ids=categories,
            triplets=np.asarray([(s, o, verb_index[v]) for s, o, v in rows], np.int64).reshape(-1, 3)))
    return SplitSource(name, path, records, [image_dir], issues)


def read_json_layout(annotation_dir: str, images_dir: str, verbs: list[Category], objects: list[Category],
                     strict: bool, dataset: str = "hico_det") -> DatasetSource:
    """``trainval_hico.json`` / ``test_hico.json`` in annotation_dir; images in images_dir/{train,test}2015."""
    splits = [read_json_split(split, os.path.join(annotation_dir, file), os.path.join(images_dir, folder), verbs,
                              strict)
              for split, (file, folder, _) in SPLITS.items()]
    return DatasetSource(dataset, verbs, objects, splits)


def hico_verbs(verb_names_path: str | None) -> list[Category]:
    """Verb ids 1..117 named from a JSON list of names (index i -> id i + 1), else HICO-DET's own names."""
    if verb_names_path is None:
        return [Category(i, name) for i, name in enumerate(hico_verb_names(), 1)]
    names = load_json(verb_names_path)
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise DataError(f"{verb_names_path}: expected a JSON list of verb names")
    return [Category(i + 1, n) for i, n in enumerate(names)]


# ----------------------------------------------------------------------------- anno_bbox.mat

def _structs(value) -> np.ndarray:
    """A loadmat (squeeze_me) struct field -> 1-D object array of structs (empty when absent)."""
    return np.atleast_1d(value).ravel()


def _mat_boxes(structs) -> np.ndarray:
    """bboxhuman / bboxobject struct array with x1, x2, y1, y2 fields -> (N, 4) [x1, y1, x2, y2]."""
    return np.asarray([[b.x1, b.y1, b.x2, b.y2] for b in _structs(structs)], np.float32).reshape(-1, 4)


def _mat_record(entry, n: int, hoi_classes: np.ndarray, where: str, counts: collections.Counter,
                issues: Issues) -> HoiRecord | None:
    """One bbox_train / bbox_test entry -> HoiRecord; hoi_classes (600, 2) = (COCO object id, verb index)."""
    boxes, categories, triplets = [], [], []
    num_boxes = 0
    for h, hoi in enumerate(_structs(entry.hoi)):
        hoi_id = int(hoi.id)
        if not 1 <= hoi_id <= len(hoi_classes):
            issues.skip("unknown_hoi", f"{where}: hoi[{h}].id {hoi_id} is outside 1..{len(hoi_classes)}")
            return None
        connection = np.asarray(hoi.connection, np.int64).reshape(-1, 2) - 1
        if int(hoi.invis) or not len(connection):
            counts["hoi_invisible" if int(hoi.invis) else "hoi_without_connection"] += 1
            continue
        humans, objects = _mat_boxes(hoi.bboxhuman), _mat_boxes(hoi.bboxobject)
        bad = np.flatnonzero((connection < 0).any(1) | (connection >= [len(humans), len(objects)]).any(1))
        if bad.size:
            issues.skip("connection_out_of_range",
                        f"{where}: hoi[{h}].connection row {bad[0]} = {(connection[bad[0]] + 1).tolist()} is out of "
                        f"range for {len(humans)} bboxhuman and {len(objects)} bboxobject")
            return None
        object_id, verb = hoi_classes[hoi_id - 1]
        boxes += [humans, objects]
        categories += [np.ones(len(humans), np.int64), np.full(len(objects), object_id)]
        offsets = np.array([num_boxes, num_boxes + len(humans)])
        triplets.append(np.column_stack([connection + offsets, np.full(len(connection), verb)]))
        num_boxes += len(humans) + len(objects)
    size = entry.size
    return HoiRecord(
        filename=str(entry.filename), image_id=image_id_from_filename(str(entry.filename), n + 1),
        height=int(size.height), width=int(size.width),
        boxes=np.concatenate(boxes or [np.zeros((0, 4), np.float32)]),
        category_ids=np.concatenate(categories or [np.zeros(0, np.int64)]),
        triplets=np.concatenate(triplets or [np.zeros((0, 3), np.int64)]))


def read_mat_layout(path: str, images_dir: str, strict: bool) -> DatasetSource:
    """``anno_bbox.mat`` (bbox_train, bbox_test, list_action) -> DatasetSource.

    Images are in images_dir/train2015 and images_dir/test2015.
    """
    try:
        mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except (OSError, ValueError, NotImplementedError) as e:
        raise DataError(f"{path}: cannot read the .mat file ({e})") from e
    missing = sorted({"bbox_train", "bbox_test", "list_action"} - set(mat))
    if missing:
        raise DataError(f"{path}: no variable {missing[0]!r}; expected HICO-DET's anno_bbox.mat")
    actions = _structs(mat["list_action"])
    object_names = [str(a.nname) for a in actions]
    verb_names = sorted({str(a.vname) for a in actions})
    coco_ids = {name.replace(" ", "_"): i for i, name in COCO_CATEGORIES.items()}
    unknown = sorted(set(object_names) - set(coco_ids))
    if unknown:
        raise DataError(f"{path}: list_action nname {unknown[0]!r} is not a COCO category")
    hoi_classes = np.array([[coco_ids[a], verb_names.index(str(b.vname))] for a, b in zip(object_names, actions)])
    splits = []
    for split, (_, folder, key) in SPLITS.items():
        issues, counts = Issues(strict), collections.Counter()
        names, records = FileNames(issues), []
        for n, entry in enumerate(_structs(mat[key])):
            where = f"{path}: {key}({n + 1}) {str(entry.filename)!r}"
            record = _mat_record(entry, n, hoi_classes, where, counts, issues)
            if record is not None and names.admit(record.filename, f"{key}({n + 1})", where):
                records.append(record)
        splits.append(SplitSource(split, path, records, [os.path.join(images_dir, folder)], issues, counts))
    verbs = [Category(i + 1, name) for i, name in enumerate(verb_names)]
    return DatasetSource("hico_det", verbs, COCO_OBJECTS, splits)


def to_json_layout(records: list[HoiRecord]) -> list[dict]:
    """Records -> PPDM/QPIC JSON entries (verb ids = index + 1), e.g. to evaluate a .mat conversion."""
    return [{"file_name": r.filename,
             "annotations": [{"bbox": b.tolist(), "category_id": int(c)} for b, c in zip(r.boxes, r.category_ids)],
             "hoi_annotation": [{"subject_id": int(s), "object_id": int(o), "category_id": int(v) + 1}
                                for s, o, v in r.triplets]}
            for r in records]
