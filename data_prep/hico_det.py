"""HICO-DET readers: the original ``anno_bbox.mat`` release, the PPDM/QPIC JSON layout and the
UPT/PViC layout (``instances_train2015.json``, ``instances_test2015.json``).

All give the same records on the same content: boxes in the file's own pixel
coordinates, object classes as COCO ids, verb index = HICO verb id - 1, where the
verb ids 1..117 are the alphabetical order of the verb names (HICO's hico_list_vb,
the ids PPDM / QPIC use). The .mat release stores the boxes of each HOI separately;
the duplicates it creates are merged later by cleaning. The UPT/PViC layout stores one entry per
box pair; equal boxes of the same class become one box (``pairs_to_boxes``).
"""

from __future__ import annotations

import collections
import os

import numpy as np
import scipy.io

from calipso_tf.constants import COCO_CATEGORIES, PERSON_CATEGORY_ID
from calipso_tf.data.manifest import Category
from calipso_tf.data.records import HoiRecord
from calipso_tf.fields import get_list, require_object
from calipso_tf.vocabularies.vocabulary import hico_objects, hico_verb_names
from data_prep.source import (DataError, DatasetSource, FileNames, Issues, SplitSource, data_errors,
                              image_id_from_filename, load_json)

COCO_OBJECTS = [Category(i, name) for i, name in COCO_CATEGORIES.items()]
# split -> (JSON layout file, image folder, .mat variable)
SPLITS = {"train": ("trainval_hico.json", "train2015", "bbox_train"),
          "test": ("test_hico.json", "test2015", "bbox_test")}
UPT_FILES = {"train": "instances_train2015.json", "test": "instances_test2015.json"}
# fields of a UPT/PViC annotation entry, one row per pair -> numbers per row
UPT_PAIR_FIELDS = {"boxes_h": 4, "boxes_o": 4, "object": 1, "verb": 1, "hoi": 1}


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


def json_layout(annotation_dir: str) -> str:
    """"upt" when annotation_dir holds UPT_FILES, "ppdm" when it holds the PPDM/QPIC files; DataError otherwise."""
    present = {layout: [f for f in files if os.path.isfile(os.path.join(annotation_dir, f))]
               for layout, files in (("ppdm", [f for f, _, _ in SPLITS.values()]), ("upt", list(UPT_FILES.values())))}
    if present["ppdm"] and present["upt"]:
        raise DataError(f"{annotation_dir}: holds both {present['ppdm']} (PPDM/QPIC layout) and {present['upt']} "
                        "(UPT/PViC layout); point --annotations at a folder with one of them")
    if not (present["ppdm"] or present["upt"]):
        raise DataError(f"{annotation_dir}: no {' / '.join(f for f, _, _ in SPLITS.values())} (PPDM/QPIC layout) "
                        f"and no {' / '.join(UPT_FILES.values())} (UPT/PViC layout)")
    return "upt" if present["upt"] else "ppdm"


def hico_verbs(verb_names_path: str | None) -> list[Category]:
    """Verb ids 1..117 named from a JSON list of names (index i -> id i + 1), else HICO-DET's own names."""
    if verb_names_path is None:
        return [Category(i, name) for i, name in enumerate(hico_verb_names(), 1)]
    names = load_json(verb_names_path)
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise DataError(f"{verb_names_path}: expected a JSON list of verb names")
    return [Category(i + 1, n) for i, n in enumerate(names)]


# ----------------------------------------------------------------------------- UPT / PViC layout

def _upt_columns(entry, where: str) -> dict[str, np.ndarray]:
    """One ``annotation`` entry -> boxes_h, boxes_o (K, 4) float32 and object, verb, hoi (K,) int64, one row per
    pair; ValueError naming where and the field when a field is missing, of another length or not integral."""
    require_object(entry, where)
    pairs = len(get_list(entry, "verb", where))
    columns = {}
    for key, width in UPT_PAIR_FIELDS.items():
        values = get_list(entry, key, where)
        try:
            column = np.asarray(values, np.float64).reshape(len(values), width)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: field '{key}' must be a list of {width} numbers per pair") from None
        if len(column) != pairs:
            raise ValueError(f"{where}: field '{key}' has {len(column)} rows but 'verb' has {pairs}")
        if width == 1 and np.any(column != np.round(column)):
            raise ValueError(f"{where}: field '{key}' holds a non-integer {column[column != np.round(column)][0]}")
        columns[key] = column.astype(np.float32) if width == 4 else column[:, 0].astype(np.int64)
    return columns


def pairs_to_boxes(boxes_h: np.ndarray, boxes_o: np.ndarray, object_ids: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pair boxes -> one box list and the pairs' indices into it.

    Boxes of equal coordinates and class are one box (a person in several pairs); boxes are
    numbered by first appearance in pair order, human before object. Args: boxes_h, boxes_o
    (K, 4) px; object_ids (K,) COCO ids. Returns boxes (G, 4) float32, category ids (G,) int64,
    (K, 2) int64 (subject, object) indices.
    """
    categories = np.stack([np.full(len(object_ids), PERSON_CATEGORY_ID), object_ids], 1).reshape(-1, 1)
    keys = np.concatenate([categories.astype(np.float64), np.stack([boxes_h, boxes_o], 1).reshape(-1, 4)], 1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    number = np.empty_like(order)
    number[order] = np.arange(len(order))
    unique = keys[first[order]]
    return (unique[:, 1:].astype(np.float32), unique[:, 0].astype(np.int64),
            number[inverse.reshape(-1)].reshape(-1, 2).astype(np.int64))


def _upt_object_ids(data: dict, path: str) -> np.ndarray:
    """COCO id of each object index of the file, from its ``objects`` names (HICO's alphabetical 80 if absent)."""
    coco_ids = {name: coco_id for coco_id, name in hico_objects()}
    names = get_list(data, "objects", path) if "objects" in data else list(coco_ids)
    unknown = [n for n in names if str(n).replace(" ", "_") not in coco_ids]
    if unknown:
        raise DataError(f"{path}: objects[{names.index(unknown[0])}] = {unknown[0]!r} is not a HICO-DET object")
    return np.array([coco_ids[str(n).replace(" ", "_")] for n in names], np.int64)


def _check_upt_verbs(data: dict, path: str, verbs: list[Category]) -> None:
    """DataError naming the first verb where the file's ``verbs`` (when present) differ from the verb list."""
    if "verbs" not in data:
        return
    names, ours = get_list(data, "verbs", path), [v.name for v in verbs]
    if names != ours:
        i = next((i for i, (a, b) in enumerate(zip(names, ours)) if a != b), min(len(names), len(ours)))
        theirs = names[i] if i < len(names) else None
        raise DataError(f"{path}: verbs[{i}] is {theirs!r} but verb index {i} is "
                        f"{ours[i] if i < len(ours) else None!r} here ({len(names)} verbs in the file, {len(ours)} "
                        "here; --verb-names sets the names)")


def _upt_hoi_table(data: dict, path: str) -> np.ndarray | None:
    """``correspondence`` rows [hoi, object, verb] -> (H, 2) table hoi -> (object, verb), -1 where absent;
    None when the file has no correspondence (pairs' ``hoi`` are then not checked)."""
    if "correspondence" not in data:
        return None
    try:
        rows = np.asarray(get_list(data, "correspondence", path), np.int64).reshape(-1, 3)
    except (TypeError, ValueError):
        raise DataError(f"{path}: correspondence must be a list of [hoi, object, verb] integer rows") from None
    if len(rows) and rows.min() < 0:
        raise DataError(f"{path}: correspondence row {int(np.argwhere(rows < 0)[0, 0])} holds a negative index")
    table = np.full((rows[:, 0].max() + 1 if len(rows) else 0, 2), -1, np.int64)
    table[rows[:, 0]] = rows[:, 1:]
    return table


def _upt_size(value, where: str) -> tuple[int, int]:
    """``size`` entry [width, height] -> (width, height) px; ValueError naming where."""
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value)):
        raise ValueError(f"{where}: field 'size' must be [width, height] in px, got {value!r}")
    return value[0], value[1]


def _upt_pair_issue(columns: dict[str, np.ndarray], num_objects: int, num_verbs: int,
                    hoi_table: np.ndarray | None) -> tuple[str, str] | None:
    """(skip reason, message tail) for the first pair with an unknown object / verb or a hoi that
    disagrees with the correspondence table; None when every pair is consistent."""
    obj, verb, hoi = columns["object"], columns["verb"], columns["hoi"]
    for reason, key, values, count in (("unknown_object", "object", obj, num_objects),
                                       ("unknown_verb", "verb", verb, num_verbs)):
        bad = np.flatnonzero((values < 0) | (values >= count))
        if bad.size:
            return reason, f"{key}[{bad[0]}] = {values[bad[0]]} is outside 0..{count - 1}"
    if hoi_table is None:
        return None
    known = (hoi >= 0) & (hoi < len(hoi_table))
    expected = hoi_table[np.where(known, hoi, 0)] if len(hoi_table) else np.full((len(hoi), 2), -1)
    bad = np.flatnonzero(~known | np.any(expected != np.stack([obj, verb], 1), 1))
    if bad.size:
        k = bad[0]
        meaning = f"(object, verb) {tuple(expected[k].tolist())}" if known[k] and expected[k, 0] >= 0 else "no HOI"
        return "hoi_mismatch", (f"hoi[{k}] = {hoi[k]} is {meaning} in correspondence but the pair has object "
                                f"{obj[k]}, verb {verb[k]}")
    return None


def read_upt_split(name: str, path: str, image_dir: str, verbs: list[Category], strict: bool) -> SplitSource:
    """One UPT/PViC ``instances_*2015.json`` -> SplitSource: one record per ``filenames`` entry.

    Boxes are kept in the file's coordinates; ``object`` indexes the file's ``objects`` (HICO-80,
    alphabetical), ``verb`` is the verb index (verb id - 1). An image without pairs gives a record
    without boxes, which the shard writer skips and counts as ``empty``; ``empty`` itself is not read.
    """
    data = load_json(path)
    with data_errors():
        require_object(data, path)
        filenames, sizes, annotation = (get_list(data, key, path) for key in ("filenames", "size", "annotation"))
    if not len(filenames) == len(sizes) == len(annotation):
        raise DataError(f"{path}: annotation, filenames and size must have one entry per image, got "
                        f"{len(annotation)}, {len(filenames)} and {len(sizes)}")
    object_ids, hoi_table = _upt_object_ids(data, path), _upt_hoi_table(data, path)
    _check_upt_verbs(data, path, verbs)
    issues, records = Issues(strict), []
    names = FileNames(issues)
    for n, (filename, size, entry) in enumerate(zip(filenames, sizes, annotation)):
        where = f"{path}: image {n} ({filename!r})"
        try:
            if not isinstance(filename, str):
                raise ValueError(f"{where}: field 'filenames' must hold file names, got {filename!r}")
            width, height = _upt_size(size, where)
            columns = _upt_columns(entry, f"{where}: annotation")
        except ValueError as e:
            issues.skip("malformed_entry", str(e))
            continue
        issue = _upt_pair_issue(columns, len(object_ids), len(verbs), hoi_table)
        if issue:
            issues.skip(issue[0], f"{where}: annotation {issue[1]}")
            continue
        if not names.admit(filename, f"image {n}", where):
            continue
        boxes, categories, pairs = pairs_to_boxes(columns["boxes_h"], columns["boxes_o"],
                                                  object_ids[columns["object"]])
        records.append(HoiRecord(
            filename=filename, image_id=image_id_from_filename(filename, n + 1), height=height, width=width,
            boxes=boxes, category_ids=categories, triplets=np.column_stack([pairs, columns["verb"]])))
    return SplitSource(name, path, records, [image_dir], issues)


def read_upt_layout(annotation_dir: str, images_dir: str, verbs: list[Category], strict: bool) -> DatasetSource:
    """``instances_train2015.json`` / ``instances_test2015.json`` in annotation_dir; images in
    images_dir/{train,test}2015. Objects: the COCO categories, as for the other layouts."""
    splits = [read_upt_split(split, os.path.join(annotation_dir, UPT_FILES[split]), os.path.join(images_dir, folder),
                             verbs, strict)
              for split, (_, folder, _) in SPLITS.items()]
    return DatasetSource("hico_det", verbs, COCO_OBJECTS, splits)


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
