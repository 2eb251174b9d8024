"""Labels that answer the question: "verb object score" at the subject, a line to the target, a colour per subject."""

import numpy as np

from calipso_tf.visualization import drawing

from test_drawing import decoded, is_colour

SUBJECT = [10, 10, 50, 90]
CUP = [100, 60, 140, 100]


def test_labels_name_verb_object_and_score():
    rows = [(0, 1, 0, 0.82, SUBJECT, CUP), (0, -1, 1, 0.91, SUBJECT, None), (2, 1, 0, 0.5, SUBJECT, CUP)]
    categories = [1, 47, 1]  # COCO 47 = cup
    assert drawing.triplet_labels(decoded(rows), ["hold", "run"], categories) == \
        ["hold cup 0.82", "run (no target) 0.91", "hold cup 0.50"]
    assert drawing.triplet_labels(decoded(rows), ["hold", "run"], categories, show_scores=False) == \
        ["hold cup", "run (no target)", "hold cup"]
    assert drawing.triplet_label("ride", "bicycle", 0.126) == "ride bicycle 0.13"


def test_line_joins_subject_centre_to_target_centre():
    image = np.zeros((128, 160, 3), np.uint8)
    out = drawing.draw_triplets(image, decoded([(0, 1, 0, 0.8, SUBJECT, CUP)]), ["hold"], object_categories=[1, 47])
    colour = drawing.PALETTE[0]
    # Centres (30, 50) and (120, 80): the line passes through (75, 65), between the two boxes.
    assert is_colour(out[64:67, 74:77], colour).any()
    assert is_colour(out[64:67, 74:77], (0, 0, 0)).any()  # a thin line, not a filled block
    # Without a target there is no line.
    out = drawing.draw_triplets(image, decoded([(0, -1, 0, 0.8, SUBJECT, None)]), ["run"])
    assert np.all(out[60:70, 60:90] == 0)
