"""Average precision and true-positive labelling shared by the HICO-DET and V-COCO evaluators."""

from __future__ import annotations

import numpy as np

# The references build the 11 recall thresholds with np.arange, so 0.3, 0.6 and 0.7 are
# represented slightly above their decimal value (e.g. 0.30000000000000004): a recall of
# exactly 3/10 does not reach the "0.3" threshold. Kept on purpose.
ELEVEN_POINT_THRESHOLDS = np.arange(0.0, 1.1, 0.1)


def first_match_tp(matched: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Greedy one-to-one labelling of ranked detections, vectorised.

    Args:
      matched: (N,) bool, detection i (in ranking order) passes all match tests against
        its chosen ground truth ``target[i]``.
      target: (N,) int, the ground truth each detection is compared with.

    Returns:
      (N,) bool: true positives. A ground truth is covered by the first matched detection
      that targets it; later ones targeting it are false positives. Coverage changes only
      on a true positive, so this equals the references' sequential loop.
    """
    tp = np.zeros(len(matched), dtype=bool)
    hits = np.flatnonzero(matched)
    _, first = np.unique(np.asarray(target)[hits], return_index=True)
    tp[hits[first]] = True
    return tp


def precision_recall(tp: np.ndarray, num_positives: int, dtype=np.float64):
    """Cumulative precision and recall of ranked detections.

    Args:
      tp: (N,) bool, true-positive flags in ranking order (the rest are false positives).
      num_positives: number of ground-truth instances (> 0).
      dtype: float64 for HICO-DET, float32 for V-COCO (as in each reference).

    Returns:
      (recall, precision), each (N,) of ``dtype``.
    """
    tp = np.asarray(tp, dtype=bool)
    cum_tp = np.cumsum(tp, dtype=dtype)
    cum_fp = np.cumsum(~tp, dtype=dtype)
    recall = cum_tp / dtype(num_positives)
    precision = cum_tp / np.maximum(cum_tp + cum_fp, float(np.finfo(np.float64).eps))  # weak scalar: keeps dtype
    return recall, precision


def ranked_average_precision(tp: np.ndarray, num_positives: int) -> float:
    """Non-interpolated AP of ranked detections: the sum of the precision at the rank of each
    true positive, divided by num_positives (> 0). tp: (N,) bool in ranking order."""
    tp = np.asarray(tp, dtype=bool)
    _, precision = precision_recall(tp, num_positives)
    return float(precision[tp].sum() / num_positives)


def eleven_point_ap(recall, precision) -> float:
    """11-point interpolated AP (HICO-DET): mean over thresholds t of max(prec[rec >= t]).

    A threshold that no recall reaches contributes 0. The terms are summed in threshold
    order, as the references accumulate them, so the result is bit-identical.
    """
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    reached = recall[None, :] >= ELEVEN_POINT_THRESHOLDS[:, None]
    best = np.where(reached, precision[None, :], -np.inf).max(axis=1, initial=-np.inf)
    best = np.where(reached.any(axis=1), best, 0.0)
    return float(np.cumsum(best / 11.0)[-1])


def voc_ap(recall, precision) -> float:
    """VOC all-point AP (V-COCO): area under the monotone precision envelope.

    Sentinels (0, 0) and (1, 0) are added, precision is replaced by its running maximum
    from the right, and sum(delta recall * precision) is taken where recall changes.
    """
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))
