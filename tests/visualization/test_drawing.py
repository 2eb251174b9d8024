"""Triplet pictures: solid subject box, dashed target box, filled label, stacked labels."""

import numpy as np
from PIL import Image

from calipso_tf.visualization import drawing

SUBJECT = [10, 20, 60, 110]
TARGET = [80, 40, 150, 100]


def decoded(rows):
    """rows: (subject, object, verb, score, subject_box, object_box or None) -> one-image decoder dict."""
    return {"num_triplets": len(rows),
            "subject_index": np.array([r[0] for r in rows]), "object_index": np.array([r[1] for r in rows]),
            "verb": np.array([r[2] for r in rows]), "score": np.array([r[3] for r in rows], np.float32),
            "subject_box": np.array([r[4] for r in rows], np.float32),
            "object_box": np.array([r[5] or [0, 0, 0, 0] for r in rows], np.float32)}


def is_colour(pixels, colour):
    return np.all(pixels == np.asarray(colour, np.uint8), axis=-1)


def test_draws_solid_subject_dashed_target_and_label():
    image = np.zeros((128, 160, 3), np.uint8)
    out = drawing.draw_triplets(image, decoded([(0, 1, 0, 0.9, SUBJECT, TARGET)]), ["hold"])
    colour = drawing.PALETTE[0]
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.all(image == 0), "the input must not be modified"
    # Subject: every pixel of the left edge below the label and of the bottom edge is coloured.
    assert is_colour(out[60:110, SUBJECT[0]], colour).all()
    assert is_colour(out[SUBJECT[3], 10:61], colour).all()
    # Target: dashed, so its edges alternate between coloured runs and untouched (black) gaps.
    for edge in (out[TARGET[3], 80:151], out[40:101, TARGET[0]], out[TARGET[1], 80:151]):
        coloured = is_colour(edge, colour)
        assert 0.4 < coloured.mean() < 0.8
        assert is_colour(edge[~coloured], (0, 0, 0)).all()
    # Label: a filled block at the subject's top-left corner, with text pixels of another colour.
    label = out[SUBJECT[1] + 1:SUBJECT[1] + 9, SUBJECT[0] + 1:SUBJECT[0] + 20]
    assert is_colour(label, colour).mean() > 0.5
    assert (~is_colour(label, colour)).any()
    # Nothing drawn far from the boxes.
    assert np.all(out[115:, :] == 0) and np.all(out[:15, :] == 0)


def colour_runs(pixels, colours):
    """The colours of ``colours`` met along a line of pixels, each run of one colour counted once."""
    sequence = [tuple(int(v) for v in p) for p in pixels if tuple(int(v) for v in p) in colours]
    return [c for i, c in enumerate(sequence) if i == 0 or c != sequence[i - 1]]


def test_stacked_labels_of_one_subject_need_no_legend():
    image = np.zeros((128, 160, 3), np.uint8)
    rows = [(0, 1, 0, 0.9, SUBJECT, TARGET), (0, -1, 1, 0.8, SUBJECT, None)]
    out = drawing.draw_triplets(image, decoded(rows), ["hold", "run"], show_scores=False)
    first = drawing.PALETTE[0]
    # Both labels stacked at the subject's corner: the first colour from its top edge for two text lines.
    assert is_colour(out[SUBJECT[1] + 1:SUBJECT[1] + 20, SUBJECT[0] + 1], first).all()
    assert np.all(out[:SUBJECT[1], :] == 0)  # no legend above the subject


def test_overlapping_labels_of_two_subjects_make_a_legend():
    image = np.zeros((128, 160, 3), np.uint8)
    rows = [(0, 1, 0, 0.9, SUBJECT, TARGET), (0, -1, 1, 0.8, SUBJECT, None),
            (2, 1, 0, 0.7, [12, 22, 62, 112], TARGET)]  # an almost identical subject: the labels would meet
    out = drawing.draw_triplets(image, decoded(rows), ["hold", "run"], show_scores=False)
    first, second, third = drawing.PALETTE[:3]
    # Subject 0 (both its triplets) is drawn in the first colour, subject 2 in the second.
    assert is_colour(out[60:110, SUBJECT[0]], first).all()
    assert is_colour(out[60:110, 12], second).all()
    # Each subject box is tagged at its corner: "1" (first colour), then "2" below it (second colour).
    assert colour_runs(out[SUBJECT[1] + 2:SUBJECT[1] + 40, SUBJECT[0] + 3], (first, second)) == [first, second]
    # The legend sits in the corner that hides the least of the subjects: the top right (the boxes are
    # on the left), right-aligned: the two rows of subject 0, then subject 2's row, down its left edge.
    left = 63 + int(np.argmax(is_colour(out[2, 63:], first)))
    assert left > 63 and np.all(out[:5, 63:left] == 0)
    assert colour_runs(out[:39, left + 1], (first, second, third)) == [first, second]  # the target box from y 40
    assert is_colour(out[:60, 159], first).any()  # the longest row ends at the right edge


def test_legend_rows_follow_the_subject_numbers():
    image = np.zeros((128, 160, 3), np.uint8)
    # Subject 2 scores highest: it gets the first colour and number 1, so its row comes first.
    rows = [(2, 1, 0, 0.95, [12, 22, 62, 112], TARGET), (0, 1, 0, 0.6, SUBJECT, TARGET)]
    out = drawing.draw_triplets(image, decoded(rows), ["hold"], show_scores=False)
    first, second = drawing.PALETTE[:2]
    left = 63 + int(np.argmax(is_colour(out[2, 63:], first)))
    assert colour_runs(out[:39, left + 1], (first, second)) == [first, second]


def test_label_leaving_the_picture_makes_a_legend():
    image = np.zeros((128, 160, 3), np.uint8)
    corner = [120, 100, 150, 125]  # a label at (120, 100) would run past the right edge
    out = drawing.draw_triplets(image, decoded([(0, -1, 0, 0.9, corner, None)]), ["run"])
    colour = drawing.PALETTE[0]
    # The legend row at the top left (the box is at the bottom right), the tag "1" at the box corner.
    assert is_colour(out[1:8, 1], colour).all()
    assert is_colour(out[corner[1] + 1:corner[1] + 6, corner[0] + 1], colour).all()
    assert not is_colour(out[corner[1] + 2, corner[0] + 30:150], colour).any()  # a short tag, not the label


def test_save_image_is_atomic_and_keeps_pixels(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    path = tmp_path / "sub" / "out.png"
    drawing.save_image(str(path), image)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.png"]
