"""HICO-DET evaluation (Default and Known-Object settings), as the official protocol scores it.

Inputs use the PPDM/QPIC JSON layout, one dict per image:
  ground truth: ``file_name``, ``annotations`` ([{bbox: [x1, y1, x2, y2], category_id}]),
    ``hoi_annotation`` ([{subject_id, object_id, category_id (verb)}]);
  predictions: ``file_name``, ``predictions`` (boxes as above), ``hoi_prediction``
    ([{subject_id, object_id, category_id, score}]).
Ids are 0-based indices into the image's box list.

An HOI category is (object class, verb). Extension for verbs without a target: a row with
``object_id == -1`` belongs to category (NO_OBJECT, verb), and a prediction of that kind
matches such a ground-truth row on the subject IoU alone. Rows with a real object are
scored exactly as the official protocol does, so results on real HICO-DET are unchanged.

Predictions on an image without any ground-truth box are false positives, as in the
official MATLAB code. (QPIC's port means to do the same but compares a list with tuples,
so it silently drops them; we do not reproduce that bug.)
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from calipso_tf.constants import NO_TARGET_CATEGORY, RARE_THRESHOLD
from calipso_tf.evaluation.ap import eleven_point_ap, first_match_tp, precision_recall, ranked_average_precision
from calipso_tf.evaluation.iou import hico_iou
from calipso_tf.fields import get_field, get_list, integer_columns, numeric_table, require_list
from calipso_tf.fileio import load_json

log = logging.getLogger("calipso_tf")

NO_OBJECT = NO_TARGET_CATEGORY  # object class of a verb without a target (object_id == -1)
IOU_THRESHOLD = 0.5
MAX_ID = 2**31  # class and verb ids stay below this, so (class, verb) packs into one int64


@dataclasses.dataclass(frozen=True)
class _Image:
    """One image of either file: boxes (B, 4) float64 pixels, classes (B,) and HOI rows (H,)."""

    file_name: str
    boxes: np.ndarray
    classes: np.ndarray
    subjects: np.ndarray
    objects: np.ndarray  # -1: no target
    verbs: np.ndarray
    scores: np.ndarray | None  # predictions only

    def category_keys(self) -> np.ndarray:
        """(H, 2) int64 rows of (object class or NO_OBJECT, verb)."""
        object_classes = np.append(self.classes, NO_OBJECT)[self.objects]  # -1 hits the pad
        return np.stack([object_classes, self.verbs], axis=1)


@dataclasses.dataclass
class HicoMetrics:
    """mAPs and mean max recall in percent; per-category values as fractions.

    ``curves`` maps (object class, verb) to the (recall, precision) arrays of the Default
    setting, for plotting (``report.metrics_dict`` leaves them out). ``images_without_predictions``:
    test images the predictions have no entry for (scored as images where nothing was detected).
    """

    mAP_full: float
    mAP_rare: float
    mAP_non_rare: float
    mAP_full_known_object: float
    mAP_rare_known_object: float
    mAP_non_rare_known_object: float
    mean_max_recall: float
    per_category: list[dict]
    curves: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = dataclasses.field(repr=False)
    images_without_predictions: int = 0


def _parse_boxes(rows: list, where: str) -> tuple[np.ndarray, np.ndarray]:
    table = numeric_table(rows, [("bbox", 4), ("category_id", 1)], where)
    boxes, classes = table[:, :4], integer_columns(table[:, 4], ["category_id"], where)[:, 0]
    bad = ~np.isfinite(boxes).all(axis=1) | (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"{where}[{k}]: field 'bbox' {boxes[k].tolist()} is not a finite box "
                         "with x2 >= x1 and y2 >= y1")
    bad = (classes <= NO_OBJECT) | (classes >= MAX_ID)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"{where}[{k}]: field 'category_id' = {classes[k]} must be in [1, 2**31) "
                         "(0 means 'no target')")
    return boxes, classes


def _parse_hois(rows: list, num_boxes: int, where: str, scored: bool):
    keys = ("subject_id", "object_id", "category_id") + (("score",) if scored else ())
    table = numeric_table(rows, [(key, 1) for key in keys], where)
    ids = integer_columns(table[:, :3], keys[:3], where)
    lower = np.array([0, -1, 0])
    upper = np.array([num_boxes, num_boxes, MAX_ID])
    bad = (ids < lower) | (ids >= upper)
    if bad.any():
        k, j = np.argwhere(bad)[0]
        raise ValueError(f"{where}[{k}]: field '{keys[j]}' = {ids[k, j]} is out of range "
                         f"(the image has {num_boxes} boxes; object_id may be -1, verbs are in [0, 2**31))")
    scores = table[:, 3] if scored else None
    if scored and not np.isfinite(scores).all():
        k = int(np.argmax(~np.isfinite(scores)))
        raise ValueError(f"{where}[{k}]: field 'score' must be finite, got {scores[k]}")
    return ids[:, 0], ids[:, 1], ids[:, 2], scores


def _parse_image(entry, source: str, index: int, scored: bool) -> _Image:
    file_name = get_field(entry, "file_name", f"{source}: image {index}")
    where = f"{source}: image {index} ({file_name})"
    box_key, hoi_key = ("predictions", "hoi_prediction") if scored else ("annotations", "hoi_annotation")
    boxes, classes = _parse_boxes(get_list(entry, box_key, where), f"{where}, {box_key}")
    hois = _parse_hois(get_list(entry, hoi_key, where), len(boxes), f"{where}, {hoi_key}", scored)
    return _Image(str(file_name), boxes, classes, *hois)


def _parse_file(images, source: str, scored: bool) -> list[_Image]:
    require_list(images, source, "per-image dicts")
    return [_parse_image(entry, source, i, scored) for i, entry in enumerate(images)]


class _CategoryIndex:
    """(object class, verb) keys -> category index, in order of first appearance."""

    def __init__(self, keys: np.ndarray):
        unique, first = np.unique(keys, axis=0, return_index=True)
        order = np.argsort(first)
        self.keys = unique[order]  # (C, 2)
        self._codes = self._encode(unique)  # sorted, as np.unique sorts rows
        self._index_of_sorted = np.argsort(order)

    @staticmethod
    def _encode(keys: np.ndarray) -> np.ndarray:
        return (keys[:, 0] << 32) + keys[:, 1]

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """(N,) category index of each (N, 2) key, -1 for a category not evaluated."""
        codes = self._encode(keys)
        pos = np.minimum(np.searchsorted(self._codes, codes), len(self._codes) - 1)
        return np.where(self._codes[pos] == codes, self._index_of_sorted[pos], -1)


def _match(gt: _Image, pred: _Image, rows: np.ndarray) -> np.ndarray:
    """TP flags of the prediction rows ``rows`` (already in descending score order).

    Candidates of a prediction: GT rows with its verb whose subject and object boxes both
    reach the IoU threshold (boxes of different classes have IoU 0). The best candidate
    (max of min(IoU_s, IoU_o), first on ties) is a TP if no earlier prediction took it;
    there is no fallback to the second best.
    """
    if len(gt.verbs) == 0 or len(rows) == 0:
        return np.zeros(len(rows), dtype=bool)
    iou = np.zeros((len(pred.boxes) + 1, len(gt.boxes) + 1))  # last row / column: no target
    same_class = pred.classes[:, None] == gt.classes[None, :]
    iou[:-1, :-1] = np.where(same_class, hico_iou(pred.boxes[:, None], gt.boxes[None]), 0.0)
    iou[-1, -1] = 1.0  # no target vs no target: the min below reduces to the subject IoU
    iou_s = iou[pred.subjects[rows, None], gt.subjects[None, :]]
    iou_o = iou[pred.objects[rows, None], gt.objects[None, :]]
    candidate = pred.verbs[rows, None] == gt.verbs[None, :]
    candidate &= (iou_s >= IOU_THRESHOLD) & (iou_o >= IOU_THRESHOLD)
    best = np.argmax(np.where(candidate, np.minimum(iou_s, iou_o), -1.0), axis=1)
    return first_match_tp(candidate.any(axis=1), best)


def _pair_predictions(gt_images: list[_Image], pred_images: list[_Image], sources) -> list[_Image | None]:
    """The prediction entry of each GT image (None if absent), matched by file_name."""
    position = {}
    for i, img in enumerate(gt_images):
        if position.setdefault(img.file_name, i) != i:
            raise ValueError(f"{sources[0]}: image {i} ({img.file_name}): file_name appears twice")
    paired = [None] * len(gt_images)
    for i, img in enumerate(pred_images):
        where = f"{sources[2]}: image {i} ({img.file_name})"
        if img.file_name not in position:
            raise ValueError(f"{where}: file_name is not in {sources[0]}")
        if paired[position[img.file_name]] is not None:
            raise ValueError(f"{where}: file_name appears twice")
        paired[position[img.file_name]] = img
    return paired


def _score_image(gt: _Image, pred: _Image, index: _CategoryIndex, max_per_image: int | None):
    """Kept predictions of one image: category (K,), score (K,), TP (K,), known object (K,)."""
    cat = index.lookup(pred.category_keys())
    rows = np.flatnonzero(cat >= 0)  # mask non-evaluated categories before the cut
    rows = rows[np.argsort(-pred.scores[rows], kind="stable")][:max_per_image]
    known = np.isin(index.keys[cat[rows], 0], gt.category_keys()[:, 0])
    return cat[rows], pred.scores[rows], _match(gt, pred, rows), known


def _category_results(cat, score, tp, known, n_gt):
    """Per category: AP, Known-Object AP, max recall (C,) and the (recall, precision) curves."""
    num = len(n_gt)
    order = np.lexsort((-score, cat))  # by category, then descending score (stable)
    bounds = np.searchsorted(cat[order], np.arange(num + 1))
    ap, ap_known, max_recall = np.zeros(num), np.zeros(num), np.zeros(num)
    curves = []
    for c in range(num):
        ranked = order[bounds[c]:bounds[c + 1]]
        recall, precision = precision_recall(tp[ranked], n_gt[c])
        curves.append((recall, precision))
        if len(ranked):  # no prediction: AP 0
            ap[c], max_recall[c] = eleven_point_ap(recall, precision), recall[-1]
        ranked_known = ranked[known[ranked]]
        if len(ranked_known):
            ap_known[c] = eleven_point_ap(*precision_recall(tp[ranked_known], n_gt[c]))
    return ap, ap_known, max_recall, curves


def _mean_percent(values: np.ndarray) -> float:
    return float(np.mean(values)) * 100.0 if len(values) else float("nan")


def _scored_images(ground_truth: list, predictions: list, max_per_image: int | None, sources: tuple[str, str, str]):
    """Parses the files and scores each ground-truth image's predictions.

    Returns (gt_images, index, gt_keys, scored): the parsed test images, the evaluated categories,
    every ground-truth row's (object class, verb) and, per test image, its `_score_image` result
    (None: the predictions have no entry for it).
    """
    if max_per_image is not None and max_per_image < 1:
        raise ValueError(f"max_per_image must be >= 1 or None, got {max_per_image}")
    gt_images = _parse_file(ground_truth, sources[0], scored=False)
    paired = _pair_predictions(gt_images, _parse_file(predictions, sources[2], scored=True), sources)
    gt_keys = np.concatenate([np.zeros((0, 2), np.int64)] + [img.category_keys() for img in gt_images])
    if not len(gt_keys):
        raise ValueError(f"{sources[0]}: no HOI annotation at all, nothing to evaluate")
    index = _CategoryIndex(gt_keys)
    scored = [None if pred is None else _score_image(gt, pred, index, max_per_image)
              for gt, pred in zip(gt_images, paired)]
    return gt_images, index, gt_keys, scored


def evaluate_hico(ground_truth: list, training: list, predictions: list, max_per_image: int | None = 100,
                  sources: tuple[str, str, str] = ("ground truth", "training annotations", "predictions"),
                  ) -> HicoMetrics:
    """Scores PPDM-layout predictions against HICO-DET ground truth.

    Args:
      ground_truth: test images (they define the evaluated categories and n_gt).
      training: training images (a category with < 10 rows there is Rare).
      predictions: one dict per image, matched to the ground truth by ``file_name``.
      max_per_image: keep at most this many highest-scoring HOIs per image, counted after
        dropping those of non-evaluated categories; None keeps all (the MATLAB original).
      sources: names used in error messages (e.g. the file paths).
    """
    gt_images, index, gt_keys, scored = _scored_images(ground_truth, predictions, max_per_image, sources)
    missing = sum(image is None for image in scored)
    if missing:
        log.warning("%s: no entry for %d of the %d images of %s; they count as images where nothing was detected",
                    sources[2], missing, len(gt_images), sources[0])
    train_images = _parse_file(training, sources[1], scored=False)
    n_gt = np.bincount(index.lookup(gt_keys), minlength=len(index))
    train_cat = index.lookup(np.concatenate([np.zeros((0, 2), np.int64)] + [i.category_keys() for i in train_images]))
    n_train = np.bincount(train_cat[train_cat >= 0], minlength=len(index))
    rare = n_train < RARE_THRESHOLD

    empty = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool), np.zeros(0, bool))
    columns = (np.concatenate(column) for column in zip(empty, *(image for image in scored if image is not None)))
    ap, ap_known, max_recall, curves = _category_results(*columns, n_gt)

    keys = [(int(o), int(v)) for o, v in index.keys]
    per_category = [
        {"object_category_id": o, "verb_id": v, "ap": float(ap[c]), "ap_known_object": float(ap_known[c]),
         "n_gt": int(n_gt[c]), "n_train": int(n_train[c]), "rare": bool(rare[c]), "max_recall": float(max_recall[c])}
        for c, (o, v) in enumerate(keys)
    ]
    return HicoMetrics(
        mAP_full=_mean_percent(ap), mAP_rare=_mean_percent(ap[rare]), mAP_non_rare=_mean_percent(ap[~rare]),
        mAP_full_known_object=_mean_percent(ap_known), mAP_rare_known_object=_mean_percent(ap_known[rare]),
        mAP_non_rare_known_object=_mean_percent(ap_known[~rare]), mean_max_recall=_mean_percent(max_recall),
        per_category=per_category, curves=dict(zip(keys, curves)), images_without_predictions=missing)


def image_average_precisions(ground_truth: list, predictions: list, max_per_image: int | None = 100,
                              sources: tuple[str, str, str] = ("ground truth", "", "predictions")) -> dict[str, float]:
    """How well each test image's own predictions rank: file_name -> per-image AP in [0, 1].

    The image's predictions are kept and labelled true / false positive exactly as `evaluate_hico`
    does (evaluated categories only, the top max_per_image by score, the benchmark's matching);
    the score is their non-interpolated AP against the image's N ground-truth triplets: the sum
    of the precision at the rank of each true positive, divided by N. 1: every ground-truth
    triplet found, each ranked above every false positive; 0: none found, or the predictions have
    no entry for the image. Images without a ground-truth triplet have no score and are left out.
    ``sources``: as `evaluate_hico`'s (the training annotations' name is unused).
    """
    gt_images, _, _, scored = _scored_images(ground_truth, predictions, max_per_image, sources)
    scores = {}
    for gt, image in zip(gt_images, scored):
        if len(gt.verbs):
            tp = np.zeros(0, bool) if image is None else image[2]
            scores[gt.file_name] = ranked_average_precision(tp, len(gt.verbs))
    return scores


def evaluate_hico_files(annotations_path: str, train_annotations_path: str, predictions_path: str,
                        max_per_image: int | None = 100) -> HicoMetrics:
    """``evaluate_hico`` on JSON files (test_hico.json, trainval_hico.json, predictions)."""
    paths = (str(annotations_path), str(train_annotations_path), str(predictions_path))
    return evaluate_hico(*(load_json(p) for p in paths), max_per_image=max_per_image, sources=paths)
