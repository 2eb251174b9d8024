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


def test_one_colour_per_subject_and_stacked_labels():
    image = np.zeros((128, 160, 3), np.uint8)
    rows = [(0, 1, 0, 0.9, SUBJECT, TARGET), (0, -1, 1, 0.8, SUBJECT, None),
            (2, 1, 0, 0.7, [12, 22, 62, 112], TARGET)]  # an almost identical subject: its label must move
    out = drawing.draw_triplets(image, decoded(rows), ["hold", "run"], show_scores=False)
    first, second, third = drawing.PALETTE[:3]
    # Subject 0 (both its triplets) is drawn in the first colour, subject 2 in the second.
    assert is_colour(out[60:110, SUBJECT[0]], first).all()
    # Down the labels' column: the two labels of subject 0 (one block), then subject 2's label, moved below them.
    column = out[SUBJECT[1]:SUBJECT[1] + 50, SUBJECT[0] + 3]
    sequence = [tuple(int(v) for v in p) for p in column if tuple(p) in (first, second, third)]
    order = [c for i, c in enumerate(sequence) if i == 0 or c != sequence[i - 1]]
    assert order == [first, second]


def test_save_image_is_atomic_and_keeps_pixels(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    path = tmp_path / "sub" / "out.png"
    drawing.save_image(str(path), image)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.png"]
