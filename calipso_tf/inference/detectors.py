"""Detector sources: where the boxes CALIPSO reads its maps at come from.

Every source is called per image as ``source(file_name, image, scale)`` and returns
`Detections` in the ORIGINAL image frame (pixels, [x1, y1, x2, y2]) with COCO category
ids (person = 1) and scores in [0, 1]. ``image`` is the model input (H, W, 3), 0..255,
the original image resized by ``scale`` and padded bottom/right; only the built-in
detector looks at it.

Sources:

- `GroundTruthDetections`: the annotated boxes, score 1.0, from a PPDM/QPIC layout
  annotation file (HICO-DET) or a COCO instances file (V-COCO).
- `DetectionsFile`: pre-computed detections (e.g. Faster R-CNN or DETR), JSON, either
  a list of records or a dict keyed by file name::

      [{"file_name": "HICO_test2015_00000001.jpg",
        "boxes": [[x1, y1, x2, y2], ...],      # original-frame pixels, x2 > x1, y2 > y1
        "category_ids": [1, 62, ...],          # COCO ids
        "scores": [0.98, 0.71, ...]}, ...]     # in [0, 1]

      {"HICO_test2015_00000001.jpg": {"boxes": ..., "category_ids": ..., "scores": ...}}

- `KerasCVDetector`: a KerasCV RetinaNet (ResNet-FPN, 80 COCO classes) built without
  presets and loaded from a local weights file, with score threshold and NMS.

Records are keyed by their file names ("/"-separated). An image name finds the record of
the same name, else the one record whose name ends with the image's or that the image's
ends with, in whole folder names: "images/x.jpg" finds "x.jpg" and "x.jpg" finds
"test2015/x.jpg". Two records with one name, or a name that two records or two images
(`check_names`) would share, are refused with an error naming the file and the name.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import posixpath
from typing import Any, Iterable

import numpy as np

from calipso_tf.constants import COCO_IDS
from calipso_tf.fields import get_field, is_number, require_list, require_object
from calipso_tf.fileio import load_json
from calipso_tf.inference import detection_formats


@dataclasses.dataclass
class Detections:
    """One image's detections: boxes (D, 4) float32 pixels, category_ids (D,) int32, scores (D,) float32."""

    boxes: np.ndarray
    category_ids: np.ndarray
    scores: np.ndarray

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.category_ids = np.asarray(self.category_ids, np.int32).reshape(-1)
        self.scores = np.asarray(self.scores, np.float32).reshape(-1)

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, score_threshold: float = 0.0, max_detections: int | None = None) -> "Detections":
        """Keeps scores >= score_threshold, highest first (stable), at most max_detections."""
        order = np.argsort(-self.scores, kind="stable")
        order = order[self.scores[order] >= score_threshold][:max_detections]
        return Detections(self.boxes[order], self.category_ids[order], self.scores[order])


def pad_detections(detections: list[Detections], max_detections: int) -> dict[str, np.ndarray]:
    """Stacks per-image detections into fixed-size arrays for the decoder.

    An image with more than max_detections keeps its highest-scoring ones. Returns
    "boxes" (B, D, 4) float32, "category_ids" (B, D) int32, "scores" (B, D) float32
    (zeros past the count) and "num_detections" (B,) int32, with D = max_detections.
    """
    batch = len(detections)
    out = {"boxes": np.zeros((batch, max_detections, 4), np.float32),
           "category_ids": np.zeros((batch, max_detections), np.int32),
           "scores": np.zeros((batch, max_detections), np.float32),
           "num_detections": np.zeros((batch,), np.int32)}
    for i, det in enumerate(detections):
        det = det.select(max_detections=max_detections)
        n = len(det)
        out["boxes"][i, :n], out["category_ids"][i, :n], out["scores"][i, :n] = det.boxes, det.category_ids, det.scores
        out["num_detections"][i] = n
    return out


class DetectionSource:
    """Base class: ``source(file_name, image, scale) -> Detections`` (original frame)."""

    def __call__(self, file_name: str, image: Any = None, scale: float = 1.0) -> Detections:
        raise NotImplementedError

    def check_names(self, names: Iterable[str]) -> None:
        """Raises when the source cannot tell the images ``names`` apart; a detector always can."""

    def max_count(self) -> int:
        """The most detections the source gives one image (sizes D when inference.max_detections is 0)."""
        raise NotImplementedError


class _TableSource(DetectionSource):
    """Detections looked up by image name (module docstring) in a table read from ``path``."""

    def __init__(self, path: str, what: str):
        self.path = path
        self.what = what
        self.table: dict[str, Detections] = {}
        self._by_base_name: dict[str, list[str]] = collections.defaultdict(list)

    def add(self, name: str, detections: Detections, where: str) -> None:
        """Stores one record; ValueError naming ``where`` when its file name repeats an earlier one."""
        key = posixpath.normpath(name)
        if key in self.table:
            raise ValueError(f"{where}: file_name repeats an earlier record ({key!r})")
        self.table[key] = detections
        self._by_base_name[posixpath.basename(key)].append(key)

    def key_of(self, file_name: str) -> str:
        """The table key image ``file_name`` finds; KeyError when none, ValueError when two."""
        name = posixpath.normpath(file_name)
        if name in self.table:
            return name
        parts = name.split("/")
        keys = [key for key in self._by_base_name.get(parts[-1], ())
                if _ends_with(key.split("/"), parts) or _ends_with(parts, key.split("/"))]
        if not keys:
            raise KeyError(f"{self.path}: no {self.what} for image {name!r}")
        if len(keys) > 1:
            raise ValueError(f"{self.path}: image {name!r} matches both {keys[0]!r} and {keys[1]!r}; "
                             "name the image by its folder")
        return keys[0]

    def check_names(self, names: Iterable[str]) -> None:
        """Every image finds exactly one record and no record serves two images (ValueError naming it)."""
        image_of_key: dict[str, str] = {}
        for name in names:
            key = self.key_of(name)
            if key in image_of_key:
                raise ValueError(f"{self.path}: {key!r} matches both images {image_of_key[key]!r} and {name!r}; "
                                 "give the file names with their folders")
            image_of_key[key] = name

    def __call__(self, file_name: str, image: Any = None, scale: float = 1.0) -> Detections:
        return self.table[self.key_of(file_name)]

    def max_count(self) -> int:
        return max((len(d) for d in self.table.values()), default=0)


def _ends_with(parts: list[str], suffix: list[str]) -> bool:
    return len(suffix) <= len(parts) and parts[len(parts) - len(suffix):] == suffix


class GroundTruthDetections(_TableSource):
    """Annotated boxes with score 1.0: `from_json` reads a PPDM/QPIC layout annotation file
    (a list of {"file_name", "annotations": [{"bbox", "category_id"}]}), `from_coco` a COCO
    instances file."""

    @classmethod
    def from_json(cls, path: str) -> "GroundTruthDetections":
        source = cls(path, "ground truth")
        for i, record in enumerate(require_list(load_json(path), path, "image records")):
            where = f"{path}: record {i}"
            name = get_field(require_object(record, where), "file_name", where, str)
            where = f"{where} ({name!r})"
            annotations = get_field(record, "annotations", where, list)
            boxes = [a.get("bbox") if isinstance(a, dict) else None for a in annotations]
            categories = [a.get("category_id") if isinstance(a, dict) else None for a in annotations]
            source.add(name, _checked(boxes, categories, [1.0] * len(boxes), where, "annotations[].bbox",
                                      "annotations[].category_id"), where)
        return source

    @classmethod
    def from_coco(cls, path: str, image_ids: Iterable[int] | None = None) -> "GroundTruthDetections":
        """Every non-crowd instance of a COCO instances file (V-COCO's
        instances_vcoco_all_2014.json), of the given images (default: all), in file order.

        Boxes [x, y, w, h] -> [x, y, x + w, y + h], as data_prep converts V-COCO; boxes
        with w or h <= 0 are left out (the evaluator drops them too).
        """
        data = load_json(path)
        images = {}
        for k, image in enumerate(get_field(require_object(data, path), "images", path, list)):
            where = f"{path}: images[{k}]"
            file_name = get_field(require_object(image, where), "file_name", where, str)
            images[get_field(image, "id", where, int)] = file_name
        wanted = set(images) if image_ids is None else {int(i) for i in image_ids}
        unknown = sorted(wanted - set(images))
        if unknown:
            raise ValueError(f"{path}: image id {unknown[0]} is not in 'images'")
        columns = {i: ([], []) for i in wanted}
        for k, ann in enumerate(get_field(data, "annotations", path, list)):
            where = f"{path}: annotations[{k}]"
            image_id = get_field(require_object(ann, where), "image_id", where, int)
            if image_id not in columns or ann.get("iscrowd", 0):
                continue
            box = get_field(ann, "bbox", where, list)
            if not (len(box) == 4 and all(is_number(v) for v in box)):
                raise ValueError(f"{where}: bbox = {box!r} is not [x, y, w, h]")
            if box[2] > 0 and box[3] > 0:
                columns[image_id][0].append([box[0], box[1], box[0] + box[2], box[1] + box[3]])
                columns[image_id][1].append(get_field(ann, "category_id", where, int))
        source = cls(path, "ground truth")
        for i, (boxes, categories) in columns.items():
            where = f"{path}: image {i} ({images[i]!r})"
            source.add(images[i], _checked(boxes, categories, [1.0] * len(boxes), where, "bbox", "category_id"), where)
        return source


class DetectionsFile(_TableSource):
    """Pre-computed detections from a JSON file (layout in the module docstring)."""

    def __init__(self, path: str, score_threshold: float = 0.0, max_detections: int | None = None,
                 human_threshold: float = 0.8, object_threshold: float = 0.3, labels: str = "hico80"):
        """A folder: UPT per-image JSONs (``labels``); .pkl/.pickle: iCAN/TIN (``*_threshold``); see
        `detection_formats`. Else the JSON of the module docstring."""
        super().__init__(path, "detections")

        def add(name, boxes, categories, scores, where):
            self.add(name, _checked(boxes, categories, scores, where).select(score_threshold, max_detections), where)

        if os.path.isdir(path):
            detection_formats.read_json_folder(path, add, labels)
        elif path.endswith((".pkl", ".pickle")):
            detection_formats.read_ican_pickle(path, add, human_threshold, object_threshold)
        else:
            self._read_json(path, add)

    def _read_json(self, path: str, add) -> None:
        data = load_json(path)
        if isinstance(data, dict):
            data = [{"file_name": name, **record} if isinstance(record, dict) else record
                    for name, record in data.items()]
        for i, record in enumerate(require_list(data, path, "records or a dict keyed by file_name")):
            where = f"{path}: record {i}"
            name = get_field(require_object(record, where), "file_name", where, str)
            where = f"{where} ({name!r})"
            add(name, *(get_field(record, key, where, list) for key in ("boxes", "category_ids", "scores")), where)


class KerasCVDetector(DetectionSource):
    """A KerasCV RetinaNet on the model input frame; boxes returned in the original frame.

    The network is a ResNet-``depth`` FPN RetinaNet with 80 COCO classes, built without
    presets; ``weights`` is a Keras weights file (``model.save_weights``) of that same
    network. The input height and width must be multiples of 128 (P7 stride).
    """

    def __init__(self, weights: str, score_threshold: float = 0.05, nms_iou_threshold: float = 0.5,
                 max_detections: int = 100, depth: int = 50):
        self.model = build_retinanet(score_threshold, nms_iou_threshold, max_detections, depth)
        self.max_detections = max_detections
        if not os.path.exists(weights):
            raise FileNotFoundError(f"{weights}: no RetinaNet weights file")
        self.model.load_weights(weights)

    def __call__(self, file_name: str, image: Any = None, scale: float = 1.0) -> Detections:
        images = np.asarray(image, np.float32)[None]
        out = self.model.decode_predictions(self.model({"images": images}, training=False), images)
        n = int(out["num_detections"][0])
        classes = np.asarray(out["classes"][0, :n]).astype(np.int64)
        return Detections(np.asarray(out["boxes"][0, :n]) / scale, np.asarray(COCO_IDS)[classes],
                          np.asarray(out["confidence"][0, :n]))

    def max_count(self) -> int:
        return self.max_detections


def build_retinanet(score_threshold: float = 0.05, nms_iou_threshold: float = 0.5, max_detections: int = 100,
                    depth: int = 50):
    """The `KerasCVDetector` network (randomly initialised): images 0..255 -> NMS-ed xyxy boxes."""
    import keras_cv

    from calipso_tf.modeling.backbone import build_resnet

    decoder = keras_cv.layers.MultiClassNonMaxSuppression(
        bounding_box_format="xyxy", from_logits=True, iou_threshold=nms_iou_threshold,
        confidence_threshold=score_threshold, max_detections=max_detections)
    return keras_cv.models.RetinaNet(backbone=build_resnet(depth), num_classes=len(COCO_IDS),
                                     bounding_box_format="xyxy", prediction_decoder=decoder)


def make_source(spec: str, annotations: str | None = None, score_threshold: float = 0.0,
                max_detections: int | None = None, nms_iou_threshold: float = 0.5,
                **format_options) -> DetectionSource:
    """``gt`` (needs annotations), ``retinanet:WEIGHTS`` or a detections file or folder -> a source.

    format_options: `DetectionsFile`'s human_threshold, object_threshold, labels."""
    if spec == "gt":
        if not annotations:
            raise ValueError("--detections gt needs an annotation file (PPDM/QPIC layout)")
        return GroundTruthDetections.from_json(annotations)
    if spec.startswith("retinanet:"):
        return KerasCVDetector(spec.split(":", 1)[1], score_threshold=score_threshold,
                               nms_iou_threshold=nms_iou_threshold, max_detections=max_detections or 100)
    return DetectionsFile(spec, score_threshold=score_threshold, max_detections=max_detections,
                          **format_options)


def format_options(inference: Any) -> dict[str, Any]:
    """`make_source`'s format_options from an InferenceConfig."""
    return {"human_threshold": inference.detection_human_threshold,
            "object_threshold": inference.detection_object_threshold, "labels": inference.detection_labels}


def _checked(boxes: Iterable, categories: Iterable, scores: Iterable, where: str,
             box_field: str = "boxes", category_field: str = "category_ids") -> Detections:
    """Validates one record's columns; ValueError naming the field and index."""
    boxes, categories, scores = list(boxes), list(categories), list(scores)
    if not len(boxes) == len(categories) == len(scores):
        raise ValueError(f"{where}: {box_field} ({len(boxes)}), {category_field} ({len(categories)}) and scores "
                         f"({len(scores)}) differ in length")
    for i, box in enumerate(boxes):
        if not (isinstance(box, list) and len(box) == 4 and all(is_number(v) for v in box)):
            raise ValueError(f"{where}: {box_field}[{i}] = {box!r} is not [x1, y1, x2, y2]")
        if not (np.all(np.isfinite(box)) and box[2] > box[0] and box[3] > box[1]):
            raise ValueError(f"{where}: {box_field}[{i}] = {box!r} needs finite values with x2 > x1 and y2 > y1")
    for i, category in enumerate(categories):
        if not (isinstance(category, int) and not isinstance(category, bool) and category > 0):
            raise ValueError(f"{where}: {category_field}[{i}] = {category!r} is not a positive integer COCO id")
    for i, score in enumerate(scores):
        if not (is_number(score) and 0.0 <= score <= 1.0):
            raise ValueError(f"{where}: scores[{i}] = {score!r} is not a number in [0, 1]")
    return Detections(boxes, categories, scores)

