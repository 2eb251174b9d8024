"""Draws a synthetic scene into pixels.

- person (1): blue body, skin head with an eye and a nose on the facing side, one arm
  ending in a skin-coloured hand on the hand side, two legs.
- sports ball (37) orange disc; cup (47) green square with a handle; chair (62) brown
  back + seat + legs; book (84) flat red rectangle with white pages.
- hug: two skin bands join the bodies; look: a dashed dark gaze line from nose to object;
  run: legs spread and motion lines behind.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from data_prep.synthetic.scenes import Scene, Thing, head_circle
from data_prep.synthetic.vocabulary import BALL, BOOK, CUP, PERSON

SKIN = (235, 190, 150)
LEGS = (45, 45, 70)


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
    cx, cy, r = head_circle(t.box)
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
    arm = _segment(yy, xx, cx + t.hand * 0.2 * w, y1 + 0.33 * h, cx + t.hand * 0.38 * w, y1 + 0.5 * h, 0.12 * w)
    img[arm] = t.colour
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


def render(rng, scene: Scene, image_size) -> np.ndarray:
    """Scene -> (H, W, 3) uint8 RGB image; image_size (height, width) px; rng draws the background."""
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
