"""Seeded synthetic HOI dataset in the HICO-DET (PPDM/QPIC JSON) file layout.

``generate(out, num_train, num_test)`` writes::

    out/images/train2015/synth_train_000000.jpg ...   RGB JPEG
    out/images/test2015/synth_test_000000.jpg ...
    out/annotations/trainval_hico.json                 one dict per image
    out/annotations/test_hico.json
    out/annotations/categories.json                    {"verbs": [...], "objects": [...]}
    out/synthetic_complete.json                        parameters of the finished run

Each image dict holds ``file_name``, ``img_id``, ``height``, ``width``,
``annotations`` (``bbox`` [x1, y1, x2, y2] integer pixels, inclusive, inside the
image; ``category_id`` a COCO id) and ``hoi_annotation`` (``subject_id``,
``object_id`` 0-based indices into ``annotations``; ``category_id`` a 1-based verb id).

Extension: a verb without a target (``run``) is a row with ``object_id == -1``. Real
HICO-DET has no such rows; the project's readers and evaluator read -1 as "no target".

Scenes (box sides 19..70 px, each covered with IoU > 0.5 by an anchor of the model's
default anchor set, ``calipso_tf.anchors.generate_anchors``):

- person (1): blue body, skin head with an eye and a nose on the facing side, one arm
  ending in a skin-coloured hand on the hand side, two legs.
- sports ball (37) orange disc; cup (47) green square with a handle; chair (62) brown
  back + seat + legs; book (84) flat red rectangle with white pages.
- hold (1): the object overlaps the person's hand.
- look (2): the object lies at a distance on the facing side, joined to the nose by a
  dashed gaze line that nothing else crosses.
- hug (3): two persons side by side, facing each other, joined by two arms; both
  directions are annotated.
- run (4): legs spread and motion lines behind; no target.

Other persons do nothing, other objects are distractors nobody touches. Each image
draws from its own generator seeded by (seed, split, index), so the output does not
depend on the number of worker processes.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import io
import json
import math
from pathlib import Path

import numpy as np

from calipso_tf.fileio import atomic_write
from PIL import Image
from tqdm import tqdm

from calipso_tf.ops.anchors import generate_anchors

VERBS = ({"id": 1, "name": "hold"}, {"id": 2, "name": "look"}, {"id": 3, "name": "hug"}, {"id": 4, "name": "run"})
OBJECTS = ({"id": 1, "name": "person"}, {"id": 37, "name": "sports ball"}, {"id": 47, "name": "cup"},
           {"id": 62, "name": "chair"}, {"id": 84, "name": "book"})
HOLD, LOOK, HUG, RUN = 1, 2, 3, 4
PERSON, BALL, CUP, CHAIR, BOOK = 1, 37, 47, 62, 84
NO_TARGET = -1
HOLDABLE = (BALL, CUP, BOOK)
LOOKABLE = (BALL, CUP, CHAIR, BOOK)
SPLITS = {"train": ("train2015", "trainval_hico.json"), "test": ("test2015", "test_hico.json")}
MARKER = "synthetic_complete.json"
VERSION = 1

MIN_ANCHOR_IOU = 0.55  # margin over the 0.5 assignment threshold
MARGIN = 4  # px kept free between boxes that do not interact
TRIES = 30
MAX_OBJECTS = 4

SKIN = (235, 190, 150)
LEGS = (45, 45, 70)
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


# ----------------------------------------------------------------------------- anchors

def best_anchor_iou(boxes, anchors) -> np.ndarray:
    """Best IoU (N,) of boxes (N, 4) against anchors (A, 4), continuous coordinates."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 1, 4)
    wh = np.clip(np.minimum(boxes[..., 2:], anchors[:, 2:]) - np.maximum(boxes[..., :2], anchors[:, :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_b = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    area_a = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    return (inter / (area_b + area_a - inter)).max(axis=1)


# ----------------------------------------------------------------------------- layout

def _apart(a, b, margin) -> bool:
    """True if boxes a, b (x1, y1, x2, y2) are at least margin px apart on some axis."""
    return a[0] > b[2] + margin or b[0] > a[2] + margin or a[1] > b[3] + margin or b[1] > a[3] + margin


class Layout:
    """Boxes placed so far in one image and the gaze corridors they must keep clear."""

    def __init__(self, image_size, anchors):
        self.height, self.width = image_size
        self.anchors = anchors
        self.boxes: list[tuple[int, int, int, int]] = []
        self.corridors: list[tuple[float, float, float, float]] = []

    def covered(self, box) -> bool:
        """Box inside the image and matched by an anchor, as exclusive and as inclusive pixel box."""
        x1, y1, x2, y2 = box
        if x1 < 0 or y1 < 0 or x2 > self.width - 1 or y2 > self.height - 1 or x2 <= x1 or y2 <= y1:
            return False
        return best_anchor_iou([box, (x1, y1, x2 + 1, y2 + 1)], self.anchors).min() >= MIN_ANCHOR_IOU

    def clear(self, region, partners=()) -> bool:
        """True if region keeps MARGIN px from every placed box except the partner indices."""
        return all(_apart(region, b, MARGIN) for i, b in enumerate(self.boxes) if i not in partners)

    def fits(self, box, partners=()) -> bool:
        """Box placeable: covered, clear of non-partner boxes and of every gaze corridor."""
        return (self.covered(box) and self.clear(box, partners)
                and all(_apart(box, c, 0) for c in self.corridors))


# ----------------------------------------------------------------------------- scene sampling

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


def _head(box) -> tuple[float, float, float]:
    """Head centre x, centre y and radius (px) of a person box."""
    x1, y1, x2, y2 = box
    r = min(0.13 * (y2 - y1), 0.3 * (x2 - x1))
    return (x1 + x2) / 2, y1 + r, r


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
    cx, cy, r = _head(person.box)
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
    """Random scene: 1-3 persons, up to MAX_OBJECTS objects (1 unless space runs out), verbs as in the module docstring."""
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


# ----------------------------------------------------------------------------- drawing

def _rect(yy, xx, x1, y1, x2, y2) -> np.ndarray:
    """(H, W) bool mask of pixel centres inside [x1, x2] x [y1, y2]; yy (H, 1), xx (1, W) from np.ogrid."""
    return (xx >= x1) & (xx <= x2) & (yy >= y1) & (yy <= y2)


def _disc(yy, xx, cx, cy, r) -> np.ndarray:
    """(H, W) bool mask of pixel centres within r px of (cx, cy)."""
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def _segment(yy, xx, x0, y0, x1, y1, width, dash=0.0) -> np.ndarray:
    """Pixels within width/2 of the segment; with dash > 0, alternate dash-px on and off."""
    dx, dy = x1 - x0, y1 - y0
    length = max(math.hypot(dx, dy), 1e-6)
    t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / length ** 2, 0, 1)
    mask = (xx - x0 - t * dx) ** 2 + (yy - y0 - t * dy) ** 2 <= (width / 2) ** 2
    return mask & ((t * length) % (2 * dash) < dash) if dash else mask


def _background(rng, image_size) -> np.ndarray:
    """Smooth low-saturation colour field plus pixel noise, (H, W, 3) float32 in [0, 255]."""
    height, width = image_size
    coarse = rng.uniform(95, 175) + rng.uniform(-20, 20, (4, 4, 1)) + rng.uniform(-12, 12, (4, 4, 3))
    smooth = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8)).resize((width, height), Image.BICUBIC)
    return np.asarray(smooth, np.float32) + rng.normal(0, 6, (height, width, 3)).astype(np.float32)


def _draw_person(img, yy, xx, t: Thing) -> None:
    """Head with eye and nose on the facing side, body, arm to the hand side, legs (spread when running)."""
    x1, y1, x2, y2 = t.box
    w, h = x2 - x1, y2 - y1
    cx, cy, r = _head(t.box)
    hip = y1 + 0.62 * h
    if t.running:
        for foot in (x1 + 0.1 * w, x2 - 0.1 * w):
            img[_segment(yy, xx, cx, hip, foot, y2, 0.16 * w)] = LEGS
        back = x1 if t.facing > 0 else x2 - 0.25 * w
        for fy in (0.64, 0.72, 0.8):
            img[_rect(yy, xx, back, y1 + fy * h - 0.5, back + 0.25 * w, y1 + fy * h + 0.5)] = (250, 250, 250)
    else:
        for lo, hi in ((-0.17, -0.03), (0.03, 0.17)):
            img[_rect(yy, xx, cx + lo * w, hip, cx + hi * w, y2)] = LEGS
    img[_rect(yy, xx, cx - 0.26 * w, cy + r, cx + 0.26 * w, hip)] = t.colour
    img[_segment(yy, xx, cx + t.hand * 0.2 * w, y1 + 0.33 * h, cx + t.hand * 0.38 * w, y1 + 0.5 * h, 0.12 * w)] = t.colour
    img[_disc(yy, xx, cx, cy, r)] = SKIN
    nose_lo, nose_hi = sorted((cx + t.facing * 0.8 * r, cx + t.facing * 1.3 * r))
    img[_rect(yy, xx, nose_lo, cy - 0.1 * r, nose_hi, cy + 0.25 * r)] = SKIN
    img[_disc(yy, xx, cx + t.facing * 0.45 * r, cy - 0.1 * r, max(1.3, 0.2 * r))] = (10, 10, 10)


def _draw_hug_arms(img, yy, xx, a, b) -> None:
    """Two 4 px skin bands joining the bodies of person boxes a and b at chest height."""
    for fy in (0.36, 0.48):
        img[_segment(yy, xx, (a[0] + a[2]) / 2, a[1] + fy * (a[3] - a[1]),
                     (b[0] + b[2]) / 2, b[1] + fy * (b[3] - b[1]), 4)] = SKIN


def _draw_hand(img, yy, xx, t: Thing) -> None:
    """Skin disc at the end of the arm, drawn over any held object."""
    x1, y1, x2, y2 = t.box
    w = x2 - x1
    img[_disc(yy, xx, (x1 + x2) / 2 + t.hand * 0.38 * w, y1 + 0.5 * (y2 - y1), max(2.5, 0.12 * w))] = SKIN


def _draw_object(img, yy, xx, t: Thing) -> None:
    """Category-specific shape filling the box."""
    x1, y1, x2, y2 = t.box
    w, h = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    if t.category == BALL:
        ball = _disc(yy, xx, cx, cy, min(w, h) / 2)
        img[ball] = t.colour
        img[ball & (np.abs(yy - cy) <= 0.8)] = (40, 20, 10)
    elif t.category == CUP:
        hx = x1 + 0.75 * w
        img[_disc(yy, xx, hx, cy, 0.25 * w) & ~_disc(yy, xx, hx, cy, 0.12 * w) & (xx >= hx)] = t.colour
        img[_rect(yy, xx, x1, y1, hx, y2)] = t.colour
        img[_rect(yy, xx, x1, y1, hx, y1 + 0.15 * h)] = (235, 235, 235)
    elif t.category == BOOK:
        img[_rect(yy, xx, x1, y1, x2, y2)] = t.colour
        img[_rect(yy, xx, x1 + 0.12 * w, y2 - 0.3 * h, x2 - 0.04 * w, y2 - 0.1 * h)] = (245, 245, 240)
    else:  # CHAIR
        leg = 0.15 * w
        img[_rect(yy, xx, x1, y1, x1 + 0.25 * w, y1 + 0.62 * h)] = t.colour
        img[_rect(yy, xx, x1, y1 + 0.5 * h, x2, y1 + 0.62 * h)] = t.colour
        img[_rect(yy, xx, x1, y1 + 0.62 * h, x1 + leg, y2) | _rect(yy, xx, x2 - leg, y1 + 0.62 * h, x2, y2)] = t.colour


def render(rng, scene, image_size) -> np.ndarray:
    """Scene -> (H, W, 3) uint8 RGB image."""
    img = _background(rng, image_size)
    yy, xx = np.ogrid[: image_size[0], : image_size[1]]
    persons = [t for t in scene.things if t.category == PERSON]
    for t in persons:
        _draw_person(img, yy, xx, t)
    for i, j in scene.hugs:
        _draw_hug_arms(img, yy, xx, scene.things[i].box, scene.things[j].box)
    for t in scene.things:
        if t.category != PERSON:
            _draw_object(img, yy, xx, t)
    for t in persons:
        _draw_hand(img, yy, xx, t)
    for gaze in scene.gazes:
        img[_segment(yy, xx, *gaze, 2.0, dash=3.0)] = (15, 15, 15)
    return np.clip(img, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- files

def _write_json(path: Path, obj) -> None:
    """Atomic UTF-8 JSON write."""
    atomic_write(str(path), lambda f: json.dump(obj, f))


def make_example(seed, split, index, image_size=(128, 128)) -> tuple[dict, np.ndarray]:
    """(annotation dict in the HICO JSON layout, (H, W, 3) uint8 image) for one image."""
    rng = np.random.default_rng([seed, list(SPLITS).index(split), index])
    scene = sample_scene(rng, image_size, generate_anchors(image_size))
    image = render(rng, scene, image_size)
    entry = {
        "file_name": f"synth_{split}_{index:06d}.jpg",
        "img_id": index,
        "height": image_size[0],
        "width": image_size[1],
        "annotations": [{"bbox": list(t.box), "category_id": t.category} for t in scene.things],
        "hoi_annotation": [{"subject_id": s, "object_id": o, "category_id": v} for s, o, v in scene.hois],
    }
    return entry, image


def _write_example(args) -> dict:
    """Worker: renders one image, writes its JPEG atomically, returns its annotation dict."""
    seed, split, index, image_size, quality, image_dir = args
    entry, image = make_example(seed, split, index, image_size)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    atomic_write(str(Path(image_dir) / entry["file_name"]), lambda f: f.write(buf.getvalue()), "wb")
    return entry


def _write_split(out, split, count, params, workers, progress) -> None:
    """Writes one split's JPEGs (removing stale ones) and its annotation file."""
    image_dir = out / "images" / SPLITS[split][0]
    image_dir.mkdir(parents=True, exist_ok=True)
    names = {f"synth_{split}_{i:06d}.jpg" for i in range(count)}
    for stale in image_dir.glob(f"synth_{split}_*.jpg"):
        if stale.name not in names:
            stale.unlink()
    jobs = [(params["seed"], split, i, tuple(params["image_size"]), params["jpeg_quality"], str(image_dir))
            for i in range(count)]
    bar = dict(total=count, desc=split, disable=not progress)
    if workers > 1:
        with concurrent.futures.ProcessPoolExecutor(workers) as pool:
            entries = list(tqdm(pool.map(_write_example, jobs, chunksize=16), **bar))
    else:
        entries = [_write_example(job) for job in tqdm(jobs, **bar)]
    _write_json(out / "annotations" / SPLITS[split][1], entries)


def generate(output_dir, num_train, num_test, image_size=(128, 128), seed=0, jpeg_quality=95,
             workers=1, progress=False) -> Path:
    """Writes the dataset under output_dir (layout in the module docstring); returns its path.

    image_size: (height, width) px. Skips the work if a completed run with the same
    parameters is recorded there; otherwise (re)writes every file.
    """
    height, width = int(image_size[0]), int(image_size[1])
    if min(height, width) < 96:
        raise ValueError(f"image_size {image_size} too small: scenes need at least 96x96 pixels")
    out = Path(output_dir)
    params = {"version": VERSION, "num_train": int(num_train), "num_test": int(num_test),
              "image_size": [height, width], "seed": int(seed), "jpeg_quality": int(jpeg_quality)}
    marker = out / MARKER
    if marker.exists() and json.loads(marker.read_text()) == params:
        return out
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    for split, count in (("train", num_train), ("test", num_test)):
        _write_split(out, split, int(count), params, workers, progress)
    _write_json(out / "annotations" / "categories.json", {"verbs": list(VERBS), "objects": list(OBJECTS)})
    _write_json(marker, params)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic HOI dataset in the HICO-DET JSON layout.")
    parser.add_argument("--output", required=True, help="dataset root directory")
    parser.add_argument("--num-train", type=int, required=True)
    parser.add_argument("--num-test", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, nargs="+", default=[128], metavar="PX",
                        help="side, or height width, in pixels")
    parser.add_argument("--jpeg-quality", type=int, default=95)
    parser.add_argument("--workers", type=int, default=1, help="processes; the output does not depend on it")
    args = parser.parse_args(argv)
    if len(args.image_size) > 2:
        parser.error("--image-size takes one or two integers")
    size = args.image_size * 2 if len(args.image_size) == 1 else args.image_size
    generate(args.output, args.num_train, args.num_test, size, args.seed, args.jpeg_quality, args.workers, progress=True)


if __name__ == "__main__":
    main()
