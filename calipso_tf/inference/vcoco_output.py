"""Decoded triplets -> the official V-COCO detections pickle (s-gupta/v-coco ``vsrl_eval.py``).

The pickle is a list with one dict per detected person (every detection of the person
category the decoder saw, whether or not anything was predicted for it)::

    {"image_id": int (COCO id), "person_box": [x1, y1, x2, y2],
     "<action>_agent": score,                    # for each of the actions
     "<action>_<role>": [x1, y1, x2, y2, score]} # for each role (besides agent) of each action

in the original image frame, plain Python floats and lists, pickle protocol 2 (readable
by the reference's Python 2 code too).

Network verbs (data_prep/vcoco.py): ``<action>_<role>`` for each object role of an
action, the bare action name for an agent-only action (stand, walk, run, smile), whose
triplets have no target. The decoder keeps at most one triplet per (person, verb): its
best candidate, a pair with another detection or the no-target pair.

Rules:

- Agent score of an action = the highest score of the triplets of that person whose
  verb belongs to the action (for an agent-only action, its verb's triplet). The
  triplet score already holds s_det(h) * s_active(v, h) (eq. 11-12).
- Role ``<action>_<role>`` = the box of the triplet's target with the triplet's score.
  When the best candidate is the no-target pair, the box is NaN and the score that
  pair's score: the model states "this person does the action with no visible role
  object", which scenario 1 counts correct exactly when the ground truth has no role
  object (a role box of all NaN or all zeros), and which can never match a ground-truth
  object box (a NaN box overlaps nothing). NaN rather than zeros because a zero box is
  still a (degenerate) box at the image corner under the inclusive-pixel overlap.
- Not predicted (no kept triplet for that (person, verb), e.g. below
  inference.score_threshold or beyond inference.top_k): agent score 0, role box NaN
  with score 0. A score of 0 ranks last in both our evaluator and the reference (whose
  ``argsort()[::-1]`` would rank a NaN score first), so the file scores the same in both.
"""

from __future__ import annotations

import dataclasses
import pickle
from typing import TYPE_CHECKING, Iterable

import numpy as np

from calipso_tf.constants import PERSON_CATEGORY_ID
from calipso_tf.evaluation.vcoco import VcocoGroundTruth, load_actions
from calipso_tf.fileio import atomic_write

if TYPE_CHECKING:
    from calipso_tf.inference.runner import DecodedImage

NAN = float("nan")
AGENT_ONLY = -1  # role index of an agent-only action's verb


@dataclasses.dataclass
class VcocoLayout:
    """The actions and roles of the pickle and where each network verb goes.

    actions: action names, in the vcoco json's order; roles[a]: the role names of action a
    after "agent"; verb_slots[v]: (action index, role index into roles[a], or AGENT_ONLY)
    of network verb v.
    """

    actions: list[str]
    roles: list[list[str]]
    verb_slots: list[tuple[int, int]]

    @classmethod
    def from_names(cls, actions: list[str], roles: list[list[str]], verb_names: list[str]) -> "VcocoLayout":
        """verb_names: the manifest's verb names, in network order."""
        slots = {}
        for a, (action, action_roles) in enumerate(zip(actions, roles)):
            if action_roles:
                slots.update({f"{action}_{role}": (a, r) for r, role in enumerate(action_roles)})
            else:
                slots[action] = (a, AGENT_ONLY)
        unknown = [name for name in verb_names if name not in slots]
        if unknown:
            raise ValueError(f"verb {unknown[0]!r} is not '<action>_<role>' or an agent-only action of V-COCO "
                             f"(actions: {actions})")
        return cls(list(actions), [list(r) for r in roles], [slots[name] for name in verb_names])

    @classmethod
    def from_file(cls, vcoco_path: str, verb_names: list[str]) -> "VcocoLayout":
        """Actions and roles from a vcoco_{split}.json (official layout)."""
        actions = load_actions(vcoco_path)
        return cls.from_names([a["name"] for a in actions], [a["roles"] for a in actions], verb_names)


def ground_truth_entry(gt: VcocoGroundTruth, i: int, layout: VcocoLayout, verb_ids: list[int], file_name: str,
                       person_category_id: int = PERSON_CATEGORY_ID) -> dict:
    """Image i of ``gt`` as a HICO-DET ground-truth dict (PPDM layout), for drawing.

    "annotations": its P person boxes, then each distinct role object box; "hoi_annotation":
    per person and action it does, one triplet per role of the action (object_id -1 where the
    role has no object; an agent-only action: its verb, no target). verb_ids: the dataset verb
    id of each network verb (``layout.verb_slots`` order).
    """
    persons, labels = gt.person_boxes[i], gt.person_actions[i]
    slot_verb = dict(zip(layout.verb_slots, verb_ids))
    present = np.all(gt.role_boxes[i] != -1, axis=-1)  # (P, A, 2)
    objects, object_index = np.unique(gt.role_boxes[i][present].reshape(-1, 4), axis=0, return_inverse=True)
    target = np.full(present.shape, -1, np.int64)
    target[present] = len(persons) + object_index.reshape(-1)
    categories = np.zeros(len(objects), np.int64)
    categories[object_index.reshape(-1)] = gt.role_categories[i][present]
    hois = []
    for p, a in np.argwhere(labels == 1).tolist():
        slots = [(r, (a, r)) for r in range(len(layout.roles[a]))] or [(None, (a, AGENT_ONLY))]
        hois += [{"subject_id": p, "object_id": -1 if r is None else int(target[p, a, r]),
                  "category_id": int(slot_verb[slot])} for r, slot in slots]
    boxes = [{"bbox": box.tolist(), "category_id": int(person_category_id)} for box in persons]
    boxes += [{"bbox": box.tolist(), "category_id": int(c)} for box, c in zip(objects, categories)]
    return {"file_name": file_name, "annotations": boxes, "hoi_annotation": hois}


def image_detections(triplets: dict, boxes: np.ndarray, category_ids: np.ndarray, image_id: int,
                     layout: VcocoLayout, person_category_id: int = PERSON_CATEGORY_ID) -> list[dict]:
    """One image's decoder output -> its pickle entries, one per person detection, in detection order.

    Args:
      triplets: one image of the `TripletDecoder` output (batch axis removed).
      boxes: (D, 4) the detections the triplets index, original frame; category_ids: (D,).
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    entries = {}
    for d in np.flatnonzero(np.asarray(category_ids) == person_category_id).tolist():
        entry = {"image_id": int(image_id), "person_box": boxes[d].tolist()}
        for action, roles in zip(layout.actions, layout.roles):
            entry[f"{action}_agent"] = 0.0
            entry.update({f"{action}_{role}": [NAN] * 4 + [0.0] for role in roles})
        entries[d] = entry
    count = int(np.asarray(triplets["num_triplets"]))
    columns = [np.asarray(triplets[k])[:count].tolist() for k in ("subject_index", "object_index", "verb", "score")]
    for subject, target, verb, score in zip(*columns):
        if subject not in entries:
            raise ValueError(f"image {image_id}: triplet subject {subject} is not a person detection")
        entry = entries[subject]
        a, r = layout.verb_slots[verb]
        agent = f"{layout.actions[a]}_agent"
        if _beats(score, entry[agent]):
            entry[agent] = float(score)
        if r != AGENT_ONLY:
            role = f"{layout.actions[a]}_{layout.roles[a][r]}"
            if _beats(score, entry[role][4]):
                entry[role] = (boxes[target].tolist() if target >= 0 else [NAN] * 4) + [float(score)]
    return list(entries.values())


def _beats(score: float, current: float) -> bool:
    """score replaces current (0 until something is predicted)."""
    return score > current


def to_vcoco_detections(images: Iterable[DecodedImage], layout: VcocoLayout,
                        person_category_id: int = PERSON_CATEGORY_ID) -> list[dict]:
    """`evaluation.decode_split` output -> the official detections list (all images)."""
    detections = []
    for image in images:
        detections += image_detections(image.triplets, image.detections.boxes, image.detections.category_ids,
                                       image.image_id, layout, person_category_id)
    return detections


def write_pickle(path: str, detections: list[dict]) -> None:
    """Writes the detections list atomically (temp file + rename), pickle protocol 2."""
    atomic_write(path, lambda f: pickle.dump(detections, f, protocol=2), mode="wb")

