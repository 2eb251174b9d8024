"""Hand-computed checks of the AP rules and the IoU conventions (calipso_tf.evaluation.ap / .iou)."""

import numpy as np
import pytest

from calipso_tf.evaluation.ap import eleven_point_ap, first_match_tp, precision_recall, voc_ap
from calipso_tf.evaluation.iou import hico_iou, vcoco_overlap


def _sequential_sum(terms):
    """The references add the 11 terms one by one into 0.0."""
    total = 0.0
    for term in terms:
        total += term
    return total


def test_eleven_point_thresholds_are_the_floating_arange_values():
    # 3 TPs out of 10 GT, precision 1: recall reaches 3/10 = 0.3, but np.arange's fourth
    # threshold is 0.30000000000000004 > 0.3, so only t = 0, 0.1, 0.2 count: AP = 3/11
    # (a decimal 0.3 threshold would give 4/11).
    recall, precision = precision_recall(np.ones(3, bool), 10)
    assert eleven_point_ap(recall, precision) == _sequential_sum([1 / 11] * 3 + [0.0] * 8)


@pytest.mark.parametrize("num_tp, thresholds_reached", [
    (6, 6),  # 0.6 < 0.6000000000000001: t = 0 .. 0.5 only
    (7, 7),  # 0.7 < 0.7000000000000001: t = 0 .. 0.6
    (5, 6),  # 0.5 == 5 * 0.1 exactly: t = 0 .. 0.5
    (10, 11),  # recall 1.0 reaches every threshold
])
def test_eleven_point_float_effect_at_each_recall(num_tp, thresholds_reached):
    recall, precision = precision_recall(np.ones(num_tp, bool), 10)
    expected = _sequential_sum([1 / 11] * thresholds_reached + [0.0] * (11 - thresholds_reached))
    assert eleven_point_ap(recall, precision) == expected


def test_eleven_point_takes_max_precision_at_or_beyond_each_threshold():
    # Ranked TP, FP, TP with 2 GT: recall [0.5, 0.5, 1.0], precision [1, 1/2, 2/3].
    # t = 0 .. 0.5 (6 thresholds): max precision over recall >= t is 1.
    # t = 0.6 .. 1.0 (5 thresholds): only the last point, precision 2/3.
    recall, precision = precision_recall(np.array([True, False, True]), 2)
    np.testing.assert_array_equal(recall, [0.5, 0.5, 1.0])
    np.testing.assert_array_equal(precision, [1.0, 0.5, 2 / 3])
    expected = _sequential_sum([1 / 11] * 6 + [(2 / 3) / 11] * 5)
    assert eleven_point_ap(recall, precision) == expected
    assert expected == pytest.approx(28 / 33, rel=1e-15)


def test_eleven_point_without_detections_is_zero():
    assert eleven_point_ap(np.zeros(0), np.zeros(0)) == 0.0


def test_voc_ap_uses_the_monotone_envelope():
    # Same ranking TP, FP, TP with 2 GT. mrec = [0, .5, .5, 1, 1], mpre = [0, 1, .5, 2/3, 0]
    # -> envelope [1, 1, 2/3, 2/3, 0]; recall steps at 0 -> .5 and .5 -> 1:
    # AP = 0.5 * 1 + 0.5 * 2/3 = 5/6.
    recall, precision = precision_recall(np.array([True, False, True]), 2)
    assert voc_ap(recall, precision) == pytest.approx(5 / 6, rel=1e-15)


def test_voc_ap_with_recall_below_one():
    # One TP, 2 GT: mrec [0, .5, 1], mpre [0, 1, 0]: AP = 0.5 * 1 + 0.5 * 0 = 0.5.
    recall, precision = precision_recall(np.array([True]), 2)
    assert voc_ap(recall, precision) == 0.5


def test_precision_recall_float32_for_vcoco():
    recall, precision = precision_recall(np.array([False, True]), 4, dtype=np.float32)
    assert recall.dtype == np.float32 and precision.dtype == np.float32
    np.testing.assert_array_equal(recall, np.float32([0.0, 0.25]))
    np.testing.assert_array_equal(precision, np.float32([0.0, 0.5]))


def test_first_match_tp_covers_each_target_once():
    # Targets 0, 0, 1, 1 with the third not matching: the 2nd is a duplicate of target 0,
    # the 4th is the first match of target 1.
    tp = first_match_tp(np.array([True, True, False, True]), np.array([0, 0, 1, 1]))
    np.testing.assert_array_equal(tp, [True, False, False, True])


def test_hico_iou_counts_pixels_inclusively():
    # [0,0,9,9] is 10x10 = 100 px; [5,0,14,9] too; the overlap is columns 5..9 (5 px)
    # by 10 rows = 50 px; union 100 + 100 - 50 = 150: IoU 1/3.
    assert hico_iou([0, 0, 9, 9], [5, 0, 14, 9]) == 50 / 150


def test_hico_iou_strict_empty_test():
    # Sharing only column 9: max x1 = 9 >= min x2 = 9, so IoU 0 (not 10 / 190).
    assert hico_iou([0, 0, 9, 9], [9, 0, 18, 9]) == 0.0
    # A one-pixel box has x1 == x2: IoU 0 even with itself.
    assert hico_iou([5, 5, 5, 5], [5, 5, 5, 5]) == 0.0


def test_hico_iou_broadcasts_to_a_matrix():
    a = np.array([[0, 0, 9, 9], [0, 0, 9, 4]], float)  # 100 px and 50 px
    b = np.array([[0, 0, 9, 9]], float)
    # [0,0,9,4] inside [0,0,9,9]: 50 / 100.
    np.testing.assert_array_equal(hico_iou(a[:, None], b[None]), [[1.0], [0.5]])


def test_vcoco_overlap_has_no_strict_empty_test():
    # Sharing column 9: iw = 9 - 9 + 1 = 1, ih = 10 -> 10 px; union 100 + 100 - 10 = 190.
    overlap = vcoco_overlap(np.float32([[0, 0, 9, 9]]), np.float32([[9, 0, 18, 9]]))
    assert overlap.dtype == np.float32
    assert overlap[0] == np.float32(10) / np.float32(190)
    # A one-pixel box overlaps itself fully.
    assert vcoco_overlap(np.float32([5, 5, 5, 5]), np.float32([5, 5, 5, 5])) == 1.0


def test_vcoco_overlap_nan_box_gives_nan():
    overlap = vcoco_overlap(np.float32([0, 0, 9, 9]), np.float32([np.nan] * 4))
    assert np.isnan(overlap) and not overlap >= 0.5
