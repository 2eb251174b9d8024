"""HICO-DET and V-COCO class vocabularies, read from the text files next to this module.

- ``hico_verbs.txt``: HICO-DET's 117 verb names, line i = verb id i (1-based, hico_list_vb order,
  alphabetical; the ids PPDM / QPIC JSON annotations use; ``no_interaction`` is id 58).
- ``hico_objects.txt``: the 80 objects in hico_list_obj order (alphabetical), ``<name> <COCO-91 id>``.
- ``hico_hois.txt``: the 600 HOI categories, line i = HOI id i (hico_list_hoi order), ``<object> <verb>``.
- ``vcoco_actions.txt``: V-COCO's 26 actions in vcoco_*.json order, ``<action> <role> ...`` (roles from
  ``role_name``, ``agent`` first).
"""

from __future__ import annotations

import functools
import os

import numpy as np

_DIR = os.path.dirname(os.path.abspath(__file__))


def _rows(name: str, min_fields: int) -> list[list[str]]:
    """Whitespace-split lines of one vocabulary file; ValueError names the file and line."""
    path = os.path.join(_DIR, name)
    with open(path, encoding="utf-8") as f:
        rows = [line.split() for line in f if line.strip()]
    for n, row in enumerate(rows, 1):
        if len(row) < min_fields:
            raise ValueError(f"{path}: line {n} has {len(row)} fields, expected at least {min_fields}")
    return rows


@functools.cache
def _hico_verbs() -> tuple[str, ...]:
    return tuple(row[0] for row in _rows("hico_verbs.txt", 1))


@functools.cache
def _hico_objects() -> tuple[tuple[int, str], ...]:
    return tuple((int(coco_id), name) for name, coco_id in _rows("hico_objects.txt", 2))


@functools.cache
def _hico_hois() -> tuple[tuple[int, int], ...]:
    verb_ids = {name: i for i, name in enumerate(_hico_verbs(), 1)}
    coco_ids = {name: coco_id for coco_id, name in _hico_objects()}
    hois = []
    for n, (obj, verb) in enumerate((row[0], row[1]) for row in _rows("hico_hois.txt", 2)):
        if verb not in verb_ids or obj not in coco_ids:
            raise ValueError(f"{os.path.join(_DIR, 'hico_hois.txt')}: HOI {n + 1} ({obj} {verb}) names an unknown "
                             f"{'verb' if verb not in verb_ids else 'object'}")
        hois.append((verb_ids[verb], coco_ids[obj]))
    return tuple(hois)


def hico_verb_names() -> list[str]:
    """The 117 HICO-DET verb names; index = verb id - 1."""
    return list(_hico_verbs())


def hico_objects() -> list[tuple[int, str]]:
    """The 80 HICO-DET objects as (COCO-91 category id, name with ``_`` for spaces), alphabetical by name."""
    return list(_hico_objects())


def hico_hoi_categories() -> list[tuple[int, int]]:
    """The 600 HICO-DET HOI categories as (verb id 1..117, object COCO id); index = HOI id - 1."""
    return list(_hico_hois())


def hoi_mask(verb_ids, object_ids) -> np.ndarray:
    """Valid HICO-DET (verb, object) pairs: bool (len(verb_ids), len(object_ids)) table.

    verb_ids: HICO verb ids (1..117) of a model's verb axis, in its order; object_ids: COCO ids of
    its object axis. Entry [v, o] is True when (verb_ids[v], object_ids[o]) is one of the 600 HOIs;
    ids outside the vocabulary get all-False rows / columns.
    """
    verb_ids, object_ids = np.asarray(verb_ids, np.int64).reshape(-1), np.asarray(object_ids, np.int64).reshape(-1)
    hois = np.asarray(_hico_hois(), np.int64)  # (600, 2)
    return ((verb_ids[:, None, None] == hois[None, None, :, 0])
            & (object_ids[None, :, None] == hois[None, None, :, 1])).any(-1)


def vcoco_actions() -> list[tuple[str, tuple[str, ...]]]:
    """V-COCO's 26 actions as (action name, role names with ``agent`` first), in vcoco_*.json order."""
    return [(row[0], tuple(row[1:])) for row in _rows("vcoco_actions.txt", 2)]
