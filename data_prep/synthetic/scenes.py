"""Random synthetic scenes: which persons and objects an image holds, where, and who does what.

Box sides are 19..70 px, each covered with IoU > 0.5 by an anchor of the model's default
anchor set (see ``layout``). Verbs:

- hold (1): the object overlaps the person's hand.
- look (2): the object lies at a distance on the facing side, joined to the nose by a
  dashed gaze line that nothing else crosses.
- hug (3): two persons side by side, facing each other, joined by two arms; both
  directions are annotated.
- run (4): legs spread and motion lines behind; no target (object index ``NO_TARGET``).

Other persons do nothing, other objects are distractors nobody touches.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from calipso_tf.constants import NO_TARGET
from data_prep.synthetic.layout import Layout
from data_prep.synthetic.vocabulary import (BALL, BOOK, CHAIR, CUP, HOLD, HOLDABLE, HUG, LOOK, LOOKABLE, PERSON,
                                            RUN)

TRIES = 30  # random placements tried before giving a thing up
MAX_OBJECTS = 4
COLOURS = {PERSON: (50, 90, 210), BALL: (245, 130, 20), CUP: (40, 180, 70), CHAIR: (140, 85, 35), BOOK: (200, 30, 45)}


@dataclasses.dataclass
class Thing:
    """One annotated box. box: (x1, y1, x2, y2) int pixels; facing, hand: +1 right, -1 left."""

    category: int
    box: tuple[int, int, int, int]
    colour: tuple[float, float, float]
    facing: int = 1
    hand: int = 1
    running: bool = False


@dataclasses.dataclass
class Scene:
    """Things in annotation order, HOI rows (subject, object or -1, verb id), gaze lines, hug pairs."""

    things: list[Thing] = dataclasses.field(default_factory=list)
    hois: list[tuple[int, int, int]] = dataclasses.field(default_factory=list)
    gazes: list[tuple[float, float, float, float]] = dataclasses.field(default_factory=list)
    hugs: list[tuple[int, int]] = dataclasses.field(default_factory=list)


def head_circle(box) -> tuple[float, float, float]:
    """Head centre x, centre y and radius (px) of a person box."""
    x1, y1, x2, y2 = box
    r = min(0.13 * (y2 - y1), 0.3 * (x2 - x1))
    return (x1 + x2) / 2, y1 + r, r


def _jitter(rng, colour, spread=25.0) -> tuple[float, float, float]:
    """RGB colour moved by up to spread per channel, clipped to [0, 255]."""
    return tuple(np.clip(np.asarray(colour) + rng.uniform(-spread, spread, 3), 0, 255).tolist())


def _size(rng, category) -> tuple[int, int]:
    """(w, h) px of a thing of the given COCO category (a person is about twice as tall as wide)."""
    if category == PERSON:
        w = int(rng.integers(22, 33))
        return w, int(round(w * rng.uniform(1.8, 2.2)))
    if category == BOOK:
        w = int(rng.integers(38, 49))
        return w, int(round(w * rng.uniform(0.5, 0.6)))
    if category == CHAIR:
        w = int(rng.integers(26, 35))
        return w, int(round(w * rng.uniform(1.3, 1.5)))
    side = int(rng.integers(24, 33)) if category == BALL else int(rng.integers(24, 31))
    return side, side


def _random_box(rng, layout, size) -> tuple[int, int, int, int]:
    """Box of size (w, h) px at a uniform position inside the image."""
    w, h = size
    x1, y1 = int(rng.integers(0, max(layout.width - w, 1))), int(rng.integers(0, max(layout.height - h, 1)))
    return x1, y1, x1 + w, y1 + h


def _add(scene, layout, thing) -> int:
    """Appends thing to the scene and its box to the layout; returns its index."""
    scene.things.append(thing)
    layout.boxes.append(thing.box)
    return len(scene.things) - 1


def _place_free(rng, scene, layout, category) -> int | None:
    """Adds a non-interacting thing at a free spot; returns its index or None."""
    for _ in range(TRIES):
        box = _random_box(rng, layout, _size(rng, category))
        if layout.fits(box):
            pose = dict(facing=int(rng.choice([-1, 1])), hand=int(rng.choice([-1, 1]))) if category == PERSON else {}
            return _add(scene, layout, Thing(category, box, _jitter(rng, COLOURS[category]), **pose))
    return None


def _place_hug_pair(rng, scene, layout) -> None:
    """Two touching persons facing each other; HUG rows in both directions."""
    for _ in range(TRIES):
        a = _random_box(rng, layout, _size(rng, PERSON))
        wb, hb = _size(rng, PERSON)
        bx1, by1 = a[2] + int(rng.integers(-4, 1)), a[1] + int(rng.integers(-4, 5))
        b = (bx1, by1, bx1 + wb, by1 + hb)
        if layout.fits(a) and layout.fits(b):
            i = _add(scene, layout, Thing(PERSON, a, _jitter(rng, COLOURS[PERSON]), facing=1, hand=1))
            j = _add(scene, layout, Thing(PERSON, b, _jitter(rng, COLOURS[PERSON]), facing=-1, hand=-1))
            scene.hugs.append((i, j))
            scene.hois += [(i, j, HUG), (j, i, HUG)]
            return


def _hold(rng, scene, layout, p) -> None:
    """Places an object over the hand of person p (trying both sides); adds a HOLD row."""
    person = scene.things[p]
    x1, y1, x2, y2 = person.box
    for side in (person.hand, -person.hand):
        for _ in range(TRIES // 2):
            category = int(rng.choice(HOLDABLE))
            w, h = _size(rng, category)
            overlap = int(rng.integers(3, 8))
            ox1 = x2 - overlap if side > 0 else x1 + overlap - w
            oy1 = int(round(y1 + 0.5 * (y2 - y1) - h / 2)) + int(rng.integers(-3, 4))
            box = (ox1, oy1, ox1 + w, oy1 + h)
            if layout.fits(box, partners=(p,)):
                person.hand = side
                o = _add(scene, layout, Thing(category, box, _jitter(rng, COLOURS[category])))
                scene.hois.append((p, o, HOLD))
                return


def _look(rng, scene, layout, p) -> None:
    """Places an object on the facing side of person p with a clear gaze line; adds a LOOK row."""
    person = scene.things[p]
    x1, y1, x2, y2 = person.box
    cx, cy, r = head_circle(person.box)
    for facing in (person.facing, -person.facing):
        nose = (cx + facing * 1.3 * r, cy)
        for _ in range(TRIES // 2):
            category = int(rng.choice(LOOKABLE))
            w, h = _size(rng, category)
            gap = int(rng.integers(10, 41))
            ox1 = x2 + gap if facing > 0 else x1 - gap - w
            oy1 = int(rng.integers(y1 - 12, y1 + int(0.5 * (y2 - y1)) + 1)) - h // 2
            box = (ox1, oy1, ox1 + w, oy1 + h)
            end = (ox1 if facing > 0 else ox1 + w, oy1 + h / 2)
            corridor = (min(nose[0], end[0]), min(nose[1], end[1]) - 2, max(nose[0], end[0]), max(nose[1], end[1]) + 2)
            if layout.fits(box) and layout.clear(corridor, partners=(p,)):
                person.facing = facing
                o = _add(scene, layout, Thing(category, box, _jitter(rng, COLOURS[category])))
                layout.corridors.append(corridor)
                scene.gazes.append((*nose, *end))
                scene.hois.append((p, o, LOOK))
                return


def _num_objects(scene) -> int:
    return sum(t.category != PERSON for t in scene.things)


def sample_scene(rng, image_size, anchors) -> Scene:
    """Random scene: 1-3 persons, up to MAX_OBJECTS objects (1 unless space runs out), verbs as in the module docstring.

    rng: numpy Generator; image_size: (height, width) px; anchors: (A, 4) anchor boxes of that size.
    """
    scene, layout = Scene(), Layout(image_size, anchors)
    num_persons = int(rng.integers(1, 4))
    if num_persons >= 2 and rng.random() < 0.35:
        _place_hug_pair(rng, scene, layout)
    while len(scene.things) < num_persons and _place_free(rng, scene, layout, PERSON) is not None:
        pass
    hugging = {i for pair in scene.hugs for i in pair}
    for p in [i for i in range(len(scene.things)) if i not in hugging]:
        if rng.random() < 0.45 and _num_objects(scene) < MAX_OBJECTS:
            _hold(rng, scene, layout, p)
        if rng.random() < 0.6 and _num_objects(scene) < MAX_OBJECTS:
            _look(rng, scene, layout, p)
        if rng.random() < 0.3:
            scene.things[p].running = True
            scene.hois.append((p, NO_TARGET, RUN))
    for _ in range(max(int(rng.integers(1, MAX_OBJECTS + 1)) - _num_objects(scene), 0)):
        present = [t.category for t in scene.things if t.category != PERSON]
        category = int(rng.choice(present)) if present and rng.random() < 0.5 else int(rng.choice(LOOKABLE))
        _place_free(rng, scene, layout, category)
    return scene
