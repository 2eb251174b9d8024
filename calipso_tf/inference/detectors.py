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

Images are looked up by base name, so "images/x.jpg" finds the record "x.jpg".
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Iterable

import numpy as np

from calipso_tf.fileio import load_json

# KerasCV / torchvision contiguous class index (0..79) -> COCO category id.
COCO_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31,
            32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57,
            58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87,
            88, 89, 90)


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


class _TableSource(DetectionSource):
    """Detections looked up by image base name in a table read from ``path``."""

    def __init__(self, table: dict[str, Detections], path: str, what: str):
        self.table = table
        self.path = path
        self.what = what

    def __call__(self, file_name: str, image: Any = None, scale: float = 1.0) -> Detections:
        key = os.path.basename(file_name)
        if key not in self.table:
            raise KeyError(f"{self.path}: no {self.what} for image {key!r}")
        return self.table[key]


class GroundTruthDetections(_TableSource):
    """Annotated boxes with score 1.0: `from_json` reads a PPDM/QPIC layout annotation file
    (a list of {"file_name", "annotations": [{"bbox", "category_id"}]}), `from_coco` a COCO
    instances file."""

    @classmethod
    def from_json(cls, path: str) -> "GroundTruthDetections":
        table = {}
        for i, record in enumerate(_load_records(path)):
            where = f"{path}: record {i}"
            name = _field(record, "file_name", str, where)
            annotations = _field(record, "annotations", list, f"{where} ({name!r})")
            boxes = [a.get("bbox") if isinstance(a, dict) else None for a in annotations]
            categories = [a.get("category_id") if isinstance(a, dict) else None for a in annotations]
            table[os.path.basename(name)] = _checked(boxes, categories, [1.0] * len(boxes), f"{where} ({name!r})",
                                                     "annotations[].bbox", "annotations[].category_id")
        return cls(table, path, "ground truth")

    @classmethod
    def from_coco(cls, path: str, image_ids: Iterable[int] | None = None) -> "GroundTruthDetections":
        """Every non-crowd instance of a COCO instances file (V-COCO's
        instances_vcoco_all_2014.json), of the given images (default: all), in file order.

        Boxes [x, y, w, h] -> [x, y, x + w, y + h], as data_prep converts V-COCO; boxes
        with w or h <= 0 are left out (the evaluator drops them too).
        """
        data = load_json(path)
        images = {}
        for k, image in enumerate(_field(data, "images", list, path)):
            images[_field(image, "id", int, f"{path}: images[{k}]")] = _field(image, "file_name", str,
                                                                             f"{path}: images[{k}]")
        wanted = set(images) if image_ids is None else {int(i) for i in image_ids}
        unknown = sorted(wanted - set(images))
        if unknown:
            raise ValueError(f"{path}: image id {unknown[0]} is not in 'images'")
        columns = {i: ([], []) for i in wanted}
        for k, ann in enumerate(_field(data, "annotations", list, path)):
            where = f"{path}: annotations[{k}]"
            image_id = _field(ann, "image_id", int, where)
            if image_id not in columns or ann.get("iscrowd", 0):
                continue
            box = _field(ann, "bbox", list, where)
            if not (len(box) == 4 and all(_is_number(v) for v in box)):
                raise ValueError(f"{where}: bbox = {box!r} is not [x, y, w, h]")
            if box[2] > 0 and box[3] > 0:
                columns[image_id][0].append([box[0], box[1], box[0] + box[2], box[1] + box[3]])
                columns[image_id][1].append(_field(ann, "category_id", int, where))
        table = {os.path.basename(images[i]): _checked(boxes, categories, [1.0] * len(boxes),
                                                       f"{path}: image {i} ({images[i]!r})", "bbox", "category_id")
                 for i, (boxes, categories) in columns.items()}
        return cls(table, path, "ground truth")


class DetectionsFile(_TableSource):
    """Pre-computed detections from a JSON file (layout in the module docstring)."""

    def __init__(self, path: str, score_threshold: float = 0.0, max_detections: int | None = None):
        data = load_json(path)
        if isinstance(data, dict):
            data = [{"file_name": name, **record} if isinstance(record, dict) else record for name, record in data.items()]
        elif not isinstance(data, list):
            raise ValueError(f"{path}: expected a list of records or a dict keyed by file_name, got {type(data).__name__}")
        table = {}
        for i, record in enumerate(data):
            where = f"{path}: record {i}"
            name = _field(record, "file_name", str, where)
            where = f"{where} ({name!r})"
            if os.path.basename(name) in table:
                raise ValueError(f"{where}: file_name repeats an earlier record")
            det = _checked(_field(record, "boxes", list, where), _field(record, "category_ids", list, where),
                           _field(record, "scores", list, where), where)
            table[os.path.basename(name)] = det.select(score_threshold, max_detections)
        super().__init__(table, path, "detections")


class KerasCVDetector(DetectionSource):
    """A KerasCV RetinaNet on the model input frame; boxes returned in the original frame.

    The network is a ResNet-``depth`` FPN RetinaNet with 80 COCO classes, built without
    presets; ``weights`` is a Keras weights file (``model.save_weights``) of that same
    network. The input height and width must be multiples of 128 (P7 stride).
    """

    def __init__(self, weights: str, score_threshold: float = 0.05, nms_iou_threshold: float = 0.5,
                 max_detections: int = 100, depth: int = 50):
        self.model = build_retinanet(score_threshold, nms_iou_threshold, max_detections, depth)
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
                max_detections: int | None = None, nms_iou_threshold: float = 0.5) -> DetectionSource:
    """``gt`` (needs annotations), ``retinanet:WEIGHTS`` or a detections JSON path -> a source."""
    if spec == "gt":
        if not annotations:
            raise ValueError("--detections gt needs an annotation file (PPDM/QPIC layout)")
        return GroundTruthDetections.from_json(annotations)
    if spec.startswith("retinanet:"):
        return KerasCVDetector(spec.split(":", 1)[1], score_threshold=score_threshold,
                               nms_iou_threshold=nms_iou_threshold, max_detections=max_detections or 100)
    return DetectionsFile(spec, score_threshold=score_threshold, max_detections=max_detections)


def _load_records(path: str) -> list:
    data = load_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of image records, got {type(data).__name__}")
    return data


def _field(record: Any, name: str, kind: type, where: str) -> Any:
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected an object, got {type(record).__name__}")
    if name not in record:
        raise ValueError(f"{where}: missing field {name!r}")
    if not isinstance(record[name], kind):
        raise ValueError(f"{where}: field {name!r} must be a {kind.__name__}, got {type(record[name]).__name__}")
    return record[name]


def _checked(boxes: Iterable, categories: Iterable, scores: Iterable, where: str,
             box_field: str = "boxes", category_field: str = "category_ids") -> Detections:
    """Validates one record's columns; ValueError naming the field and index."""
    boxes, categories, scores = list(boxes), list(categories), list(scores)
    if not len(boxes) == len(categories) == len(scores):
        raise ValueError(f"{where}: {box_field} ({len(boxes)}), {category_field} ({len(categories)}) and scores "
                         f"({len(scores)}) differ in length")
    for i, box in enumerate(boxes):
        if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
            raise ValueError(f"{where}: {box_field}[{i}] = {box!r} is not [x1, y1, x2, y2]")
        if not (np.all(np.isfinite(box)) and box[2] > box[0] and box[3] > box[1]):
            raise ValueError(f"{where}: {box_field}[{i}] = {box!r} needs finite values with x2 > x1 and y2 > y1")
    for i, category in enumerate(categories):
        if not (isinstance(category, int) and not isinstance(category, bool) and category > 0):
            raise ValueError(f"{where}: {category_field}[{i}] = {category!r} is not a positive integer COCO id")
    for i, score in enumerate(scores):
        if not (_is_number(score) and 0.0 <= score <= 1.0):
            raise ValueError(f"{where}: scores[{i}] = {score!r} is not a number in [0, 1]")
    return Detections(boxes, categories, scores)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
