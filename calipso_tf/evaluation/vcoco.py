"""V-COCO evaluation, reproducing ``VCOCOeval`` of s-gupta/v-coco ``vsrl_eval.py``.

Agent AP per action and role AP per (action, role) in scenario 1 and 2, VOC all-point AP,
float32 where the reference uses float32. Differences, all on inputs where the reference
crashes: an entry with no positives or no detections gets AP NaN (with a warning) and is
left out of the means; detections on an image without any valid person box are false
positives; bad input raises ValueError naming the file, record and field.

Ranking ties: the reference sorts with ``argsort()[::-1]`` (ties in reverse order for the
short arrays it sorts stably); we use a stable ascending sort reversed, which reproduces
that and stays deterministic for long arrays.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import warnings

import numpy as np

from calipso_tf.evaluation.ap import first_match_tp, precision_recall, ranked_average_precision, voc_ap
from calipso_tf.evaluation.iou import vcoco_overlap
from calipso_tf.fields import get_field, get_list, integer_columns, numeric_table, require_list
from calipso_tf.fileio import load_json

OVERLAP_THRESHOLD = 0.5
EXCLUDED_FROM_24 = ("point", "run", "smile", "stand", "walk")  # left out of the paper's 24 categories
MAX_ROLES = 2  # roles besides the agent

log = logging.getLogger("calipso_tf")


@dataclasses.dataclass
class VcocoGroundTruth:
    """V-COCO ground truth of a split; A actions, per-image arrays over its P valid person boxes.

    Attributes:
      actions: (A,) action names. roles: per action, its role names after "agent" (0 to 2).
      image_ids: (I,) split images, in split-file order.
      person_boxes: per image, (P, 4) float32 [x1, y1, x2, y2] inclusive pixels.
      person_actions: per image, (P, A) int8: 1 does the action, 0 does not, -1 unannotated.
      role_boxes: per image, (P, A, 2, 4) float32 box of the role object, -1 where none.
      role_categories: per image, (P, A, 2) int64 COCO category id of the role object, -1 where none.
    """

    actions: list[str]
    roles: list[list[str]]
    image_ids: np.ndarray
    person_boxes: list[np.ndarray]
    person_actions: list[np.ndarray]
    role_boxes: list[np.ndarray]
    role_categories: list[np.ndarray]


@dataclasses.dataclass
class VcocoMetrics:
    """Means in percent (as the reference prints them); per-entry APs as fractions.

    ``curves`` maps "action-role" to the scenario-1 (recall, precision) arrays, for plots
    (``report.metrics_dict`` leaves them out). ``images_without_predictions``: split images
    the detections hold no person entry for (scored as images where nothing was detected).
    """

    AP_role_scenario1: float
    AP_role_scenario2: float
    AP_role_scenario1_24: float
    AP_role_scenario2_24: float
    AP_agent: float
    per_action_role: list[dict]
    per_action_agent: list[dict]
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = dataclasses.field(repr=False)
    images_without_predictions: int = 0


def load_actions(path: str) -> list[dict]:
    """The validated entries of a vcoco_{split}.json, one per action, in file order.

    Each has ``name``, ``roles`` (the role names after "agent", 0 to 2), ``where`` (the
    action's location for error messages) and int64 arrays ``ann_id``, ``image_id``,
    ``label`` (N,) and ``role_object_id`` (N, 1 + len(roles)), column 0 the agent's.
    """
    data = load_json(path)
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: expected a non-empty list of per-action dicts")
    actions = []
    for a, entry in enumerate(data):
        where = f"{path}: action {a}"
        name = str(get_field(entry, "action_name", where))
        where = f"{path}: action {a} ({name})"
        roles = [str(r) for r in get_list(entry, "role_name", where)]
        if not roles or roles[0] != "agent" or len(roles) > MAX_ROLES + 1:
            raise ValueError(f"{where}: field 'role_name' must be ['agent'] plus at most {MAX_ROLES} roles, "
                             f"got {roles}")
        arrays = {}
        for key in ("ann_id", "image_id", "label", "role_object_id"):
            try:
                arrays[key] = np.asarray(get_list(entry, key, where), dtype=np.int64).reshape(-1)
            except (TypeError, ValueError):
                raise ValueError(f"{where}: field '{key}' must be a flat list of integers") from None
        n = len(arrays["ann_id"])
        sizes = (len(arrays["image_id"]), len(arrays["label"]), len(arrays["role_object_id"]))
        if sizes != (n, n, len(roles) * n):
            raise ValueError(f"{where}: fields 'ann_id', 'image_id', 'label' need one value per row and "
                             f"'role_object_id' len(role_name) * rows = {len(roles) * n} values")
        arrays["role_object_id"] = arrays["role_object_id"].reshape(len(roles), n).T
        actions.append({"name": name, "roles": roles[1:], "where": where, **arrays})
    return actions


def _positives(action: dict) -> dict[int, np.ndarray]:
    """ann id of each person doing the action -> its role object ann ids (0 = none)."""
    rows = np.flatnonzero(action["label"] == 1)
    ann_ids = action["ann_id"][rows]
    if len(np.unique(ann_ids)) != len(ann_ids):
        raise ValueError(f"{action['where']}: an ann_id has label 1 twice")
    return dict(zip(ann_ids.tolist(), action["role_object_id"][rows, 1:]))


def _coco_boxes(coco: dict, image_ids: set, path: str) -> dict:
    """Per split image: its valid COCO annotations as (ann ids, category ids, (n, 4) float32 boxes).

    [x, y, w, h] -> x2 = x + max(0, w - 1), clipped to the image; kept if area > 0,
    x2 > x1 and y2 > y1 and not ``ignore``; in file order, as pycocotools lists them.
    """
    images = numeric_table(get_list(coco, "images", path), [("id", 1), ("width", 1), ("height", 1)], f"{path}: images")
    size = {int(i): (w, h) for i, w, h in images}
    anns = get_list(coco, "annotations", path)
    where = f"{path}: annotations"
    table = numeric_table(anns, [("image_id", 1), ("id", 1), ("category_id", 1), ("bbox", 4)], where)
    image, ann_id, category = integer_columns(table[:, :3], ["image_id", "id", "category_id"], where).T
    in_split = np.isin(image, list(image_ids))
    missing = in_split & ~np.isin(image, list(size))
    if missing.any():
        k = int(np.argmax(missing))
        raise ValueError(f"{where}[{k}]: image_id {image[k]} is not in 'images'")
    x, y, w, h = table[:, 3:].T
    # The reference reads 'area' (required there); w * h stands in when a file lacks it.
    area = numeric_table([a if "area" in a else {"area": np.nan} for a in anns], [("area", 1)], where)[:, 0]
    area = np.where(np.isnan(area), w * h, area)
    ignore = np.array([a.get("ignore", 0) == 1 for a in anns], dtype=bool)
    width, height = np.array([size.get(i, (np.nan, np.nan)) for i in image.tolist()], dtype=np.float64).reshape(-1, 2).T
    x1, y1 = np.clip(x, 0.0, width - 1.0), np.clip(y, 0.0, height - 1.0)
    x2 = np.clip(x + np.maximum(0.0, w - 1.0), 0.0, width - 1.0)
    y2 = np.clip(y + np.maximum(0.0, h - 1.0), 0.0, height - 1.0)
    keep = np.flatnonzero(in_split & ~ignore & (area > 0) & (x2 > x1) & (y2 > y1))
    keep = keep[np.argsort(image[keep], kind="stable")]  # grouped by image, file order within
    ids, starts = np.unique(image[keep], return_index=True)
    groups = dict(zip(ids.tolist(), np.split(keep, starts[1:])))
    boxes = np.stack([x1, y1, x2, y2], axis=1).astype(np.float32)
    empty = np.zeros(0, np.int64)
    return {i: (ann_id[g], category[g], boxes[g]) for i in image_ids for g in [groups.get(i, empty)]}


def load_vcoco_ground_truth(vcoco_path: str, coco_path: str, split_ids_path: str) -> VcocoGroundTruth:
    """Builds the ground truth the reference builds (``_get_vcocodb``), persons only."""
    actions = load_actions(vcoco_path)
    try:
        image_ids = np.loadtxt(split_ids_path, ndmin=1)
    except ValueError as e:
        raise ValueError(f"{split_ids_path}: expected one image id per line ({e})") from None
    if not np.all(image_ids == np.round(image_ids)):
        raise ValueError(f"{split_ids_path}: image ids must be integers")
    image_ids = image_ids.astype(np.int64)
    if set(actions[0]["image_id"].tolist()) != set(image_ids.tolist()):
        raise ValueError(f"{vcoco_path}: its image ids differ from the split list {split_ids_path}")
    coco = load_json(coco_path)
    categories = coco.get("categories") if isinstance(coco, dict) else None
    # The reference's person class is the contiguous class 1, i.e. the first listed category.
    person = get_field(categories[0], "id", f"{coco_path}: categories[0]") if categories else 1
    per_image = _coco_boxes(coco, set(image_ids.tolist()), coco_path)
    annotated = set(actions[0]["ann_id"].tolist())
    positives = [_positives(a) for a in actions]

    boxes_out, actions_out, roles_out, role_categories_out = [], [], [], []
    for image_id in image_ids.tolist():
        ann_ids, categories_, boxes = per_image[image_id]
        persons = np.flatnonzero(categories_ == person)
        labels = -np.ones((len(persons), len(actions)), dtype=np.int8)
        role_boxes = -np.ones((len(persons), len(actions), MAX_ROLES, 4), dtype=np.float32)
        role_categories = -np.ones((len(persons), len(actions), MAX_ROLES), dtype=np.int64)
        for p, ann in enumerate(ann_ids[persons].tolist()):
            if ann not in annotated:
                continue
            labels[p] = 0
            for a, pos in enumerate(positives):
                if ann not in pos:
                    continue
                labels[p, a] = 1
                for r, obj in enumerate(pos[ann].tolist()):
                    if obj == 0:
                        continue
                    match = np.flatnonzero(ann_ids == obj)
                    if len(match) != 1:
                        raise ValueError(f"{actions[a]['where']}: role '{actions[a]['roles'][r]}' of ann_id {ann} "
                                         f"is ann_id {obj}, not a valid box of image {image_id} in {coco_path}")
                    role_boxes[p, a, r] = boxes[match[0]]
                    role_categories[p, a, r] = categories_[match[0]]
        boxes_out.append(boxes[persons])
        actions_out.append(labels)
        roles_out.append(role_boxes)
        role_categories_out.append(role_categories)
    return VcocoGroundTruth([a["name"] for a in actions], [a["roles"] for a in actions], image_ids,
                            boxes_out, actions_out, roles_out, role_categories_out)


def _role_entries(gt: VcocoGroundTruth) -> tuple[np.ndarray, np.ndarray]:
    """(E,) action index and (E,) role slot of every (action, role) AP entry, in file order."""
    pairs = np.array([(a, r) for a, roles in enumerate(gt.roles) for r in range(len(roles))], dtype=np.int64)
    return pairs.reshape(-1, 2)[:, 0], pairs.reshape(-1, 2)[:, 1]


def _detection_arrays(dets: list, gt: VcocoGroundTruth, source: str) -> dict:
    """Per image id: person boxes (n, 4), agent scores (n, A), role boxes (n, A, 2, 4), role scores (n, A, 2).

    All float32, as the reference stores them; a role that is not an action's keeps a zero box.
    """
    role_a, role_r = _role_entries(gt)
    num_actions = len(gt.actions)
    fields = [("image_id", 1), ("person_box", 4)] + [(f"{name}_agent", 1) for name in gt.actions]
    fields += [(f"{gt.actions[a]}_{gt.roles[a][r]}", 5) for a, r in zip(role_a, role_r)]
    where = f"{source}: detections"
    table = numeric_table(dets, fields, where)
    image_ids = integer_columns(table[:, 0], ["image_id"], where)[:, 0]
    table = table.astype(np.float32)
    roles = table[:, 5 + num_actions:].reshape(len(table), len(role_a), 5)
    role_boxes = np.zeros((len(table), num_actions, MAX_ROLES, 4), dtype=np.float32)
    role_scores = np.full((len(table), num_actions, MAX_ROLES), np.nan, dtype=np.float32)
    role_boxes[:, role_a, role_r] = roles[..., :4]
    role_scores[:, role_a, role_r] = roles[..., 4]
    order = np.argsort(image_ids, kind="stable")  # grouped by image, file order within
    ids, starts = np.unique(image_ids[order], return_index=True)
    wanted = set(gt.image_ids.tolist())
    return {i: (table[g, 1:5], table[g, 5:5 + num_actions], role_boxes[g], role_scores[g])
            for i, g in zip(ids.tolist(), np.split(order, starts[1:])) if i in wanted}


def _ranked_tp(scores, matched, skip, image, target) -> tuple[np.ndarray, np.ndarray]:
    """Scores and TP flags of one AP entry, in final ranking order.

    Args:
      scores: (N,) float32 over all detections of the split (NaN = not predicted).
      matched: (N,) bool, the detection passes the person (and role) tests.
      skip: (N,) bool, its best-overlap person is unannotated.
      image, target: (N,) int, its image index and best-overlap person there.
    """
    keep = np.flatnonzero(~np.isnan(scores) & ~skip)
    # Per image, descending score with ties in reverse detection order (argsort()[::-1]).
    keep = keep[np.lexsort((-keep, -scores[keep], image[keep]))]
    person = image[keep] * (target.max(initial=0) + 1) + target[keep]
    tp = first_match_tp(matched[keep], person)
    order = np.argsort(scores[keep], kind="stable")[::-1]
    return scores[keep][order], tp[order]


def _entry_ap(scores, tp, num_positives: int, label: str) -> tuple[np.float32, tuple | None]:
    """(AP as float32, (recall, precision)); NaN with a warning if undefined."""
    if num_positives == 0 or len(scores) == 0:
        what = "no positives" if num_positives == 0 else "no detections"
        warnings.warn(f"V-COCO {label}: {what}; AP is NaN and left out of the means")
        return np.float32(np.nan), None
    recall, precision = precision_recall(tp, num_positives, dtype=np.float32)
    return np.float32(voc_ap(recall, precision)), (recall, precision)


def _nanmean_percent(values: np.ndarray) -> float:
    return float("nan") if np.isnan(values).all() else float(np.nanmean(values)) * 100.0


def _match_image(gt: VcocoGroundTruth, i: int, dets: tuple, role_a: np.ndarray, role_r: np.ndarray):
    """Per detection of image i: columns (agent per action, role entries scenario 1, then 2).

    Returns scores (n, E) float32, matched (n, E) bool, skip (n,) bool, target person (n,) int.
    """
    boxes, agent_scores, role_boxes, role_scores = dets
    labels, n = gt.person_actions[i], len(boxes)
    if len(labels):
        overlaps = vcoco_overlap(gt.person_boxes[i][:, None], boxes[None])  # (P, n)
        target = np.argmax(overlaps, axis=0)  # first on ties; a NaN box picks the first person
        person_ok = overlaps[target, np.arange(n)] >= OVERLAP_THRESHOLD
        skip = np.any(labels == -1, axis=1)[target]  # best person is unannotated
        matched = (labels[target] == 1) & person_ok[:, None]  # (n, A)
        gt_roles = gt.role_boxes[i][target]  # (n, A, 2, 4)
    else:  # no valid person in the image: every detection is a false positive
        target, skip = np.zeros(n, np.int64), np.zeros(n, bool)
        matched = np.zeros((n, len(gt.actions)), bool)
        gt_roles = -np.ones(role_boxes.shape, np.float32)
    missing = np.all(gt_roles == -1, axis=-1)  # (n, A, 2): no GT role object
    role_ok = vcoco_overlap(gt_roles, role_boxes) >= OVERLAP_THRESHOLD
    no_role_predicted = np.all(role_boxes == 0, axis=-1) | np.all(np.isnan(role_boxes), axis=-1)
    scenario1 = np.where(missing, no_role_predicted, role_ok)[:, role_a, role_r]
    scenario2 = (missing | role_ok)[:, role_a, role_r]
    role_scores = role_scores[:, role_a, role_r]
    scores = np.concatenate([agent_scores, role_scores, role_scores], axis=1)
    matched = np.concatenate([matched, matched[:, role_a] & scenario1, matched[:, role_a] & scenario2], axis=1)
    return scores, matched, skip, target


def evaluate_vcoco(gt: VcocoGroundTruth, detections: list, source: str = "detections") -> VcocoMetrics:
    """Scores official-layout detections (list of per-person dicts) against ``gt``."""
    require_list(detections, source, "per-person dicts")
    dets = _detection_arrays(detections, gt, source)
    num_actions = len(gt.actions)
    role_a, role_r = _role_entries(gt)
    num_positives = np.zeros(num_actions, dtype=np.int64)
    num_entries = num_actions + 2 * len(role_a)
    scores, matched = [np.zeros((0, num_entries), np.float32)], [np.zeros((0, num_entries), bool)]
    skip, target, image = [np.zeros(0, bool)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for i, image_id in enumerate(gt.image_ids.tolist()):
        num_positives += (gt.person_actions[i] == 1).sum(axis=0)
        if image_id in dets:
            for out, value in zip((scores, matched, skip, target), _match_image(gt, i, dets[image_id], role_a, role_r)):
                out.append(value)
            image.append(np.full(len(skip[-1]), i))
    missing = len(set(gt.image_ids.tolist()) - dets.keys())
    if missing:
        log.warning("%s: no person entry for %d of the %d split images; they count as images where nothing was "
                    "detected", source, missing, len(gt.image_ids))
    scores, matched = np.concatenate(scores), np.concatenate(matched)
    skip, target, image = np.concatenate(skip), np.concatenate(target), np.concatenate(image)

    def entry_ap(column: int, action: int, label: str):
        ranked = _ranked_tp(scores[:, column], matched[:, column], skip, image, target)
        return _entry_ap(*ranked, int(num_positives[action]), label)

    agent_ap = np.zeros(num_actions, dtype=np.float32)
    for a, name in enumerate(gt.actions):
        agent_ap[a], _ = entry_ap(a, a, f"agent AP of '{name}'")
    role_ap = {s: np.full((num_actions, MAX_ROLES), np.nan, dtype=np.float32) for s in (1, 2)}
    curves = {}
    for e, (a, r) in enumerate(zip(role_a, role_r)):
        label = f"{gt.actions[a]}-{gt.roles[a][r]}"
        for s in (1, 2):
            column = num_actions + (s - 1) * len(role_a) + e
            role_ap[s][a, r], curve = entry_ap(column, a, f"role AP (scenario {s}) of '{label}'")
            if s == 1 and curve is not None:
                curves[label] = curve

    excluded = np.isin(gt.actions, EXCLUDED_FROM_24)[:, None]
    return VcocoMetrics(
        AP_role_scenario1=_nanmean_percent(role_ap[1]), AP_role_scenario2=_nanmean_percent(role_ap[2]),
        AP_role_scenario1_24=_nanmean_percent(np.where(excluded, np.float32(np.nan), role_ap[1])),
        AP_role_scenario2_24=_nanmean_percent(np.where(excluded, np.float32(np.nan), role_ap[2])),
        AP_agent=float(np.nansum(agent_ap)) * 100.0 / num_actions,
        per_action_role=[{"action": gt.actions[a], "role": gt.roles[a][r], "ap_scenario1": float(role_ap[1][a, r]),
                          "ap_scenario2": float(role_ap[2][a, r]), "n_pos": int(num_positives[a])}
                         for a, r in zip(role_a, role_r)],
        per_action_agent=[{"action": name, "ap": float(agent_ap[a]), "n_pos": int(num_positives[a])}
                          for a, name in enumerate(gt.actions)],
        curves=curves, images_without_predictions=missing)


def image_average_precisions(gt: VcocoGroundTruth, detections: list, source: str = "detections") -> dict[int, float]:
    """How well each split image's own detections rank: image id -> per-image AP in [0, 1].

    The image's ground-truth triplets are its (agent, action, role) positives: one per role of
    each action an annotated person does, and one (the agent alone) per agent-only action.
    Each detection's scores for those entries are labelled true / false positive exactly as
    `evaluate_vcoco` labels them for the scenario-1 role AP (agent-only actions: the agent AP),
    a ground-truth person matching at most one detection per entry; the score is the
    non-interpolated AP of all of them, pooled and ranked by score, against the image's N
    positives: the sum of the precision at the rank of each true positive, divided by N. 1:
    every positive found, each ranked above every false positive; 0: none found, or no person
    entry for the image. Images without a positive have no score and are left out.
    """
    require_list(detections, source, "per-person dicts")
    dets = _detection_arrays(detections, gt, source)
    role_a, role_r = _role_entries(gt)
    agent_only = np.flatnonzero([not roles for roles in gt.roles])
    columns = np.concatenate([agent_only, len(gt.actions) + np.arange(len(role_a))])
    column_action = np.concatenate([agent_only, role_a])
    scores = {}
    for i, image_id in enumerate(gt.image_ids.tolist()):
        num_positives = int((gt.person_actions[i][:, column_action] == 1).sum())
        if not num_positives:
            continue
        tp = np.zeros(0, bool)
        if image_id in dets:
            entry_scores, matched, skip, target = _match_image(gt, i, dets[image_id], role_a, role_r)
            n, c = len(skip), len(columns)
            # One ranking per entry (the "image" argument groups them), then pooled by score.
            _, tp = _ranked_tp(entry_scores[:, columns].ravel(), matched[:, columns].ravel(), np.repeat(skip, c),
                               np.tile(np.arange(c), n), np.repeat(target, c))
        scores[image_id] = ranked_average_precision(tp, num_positives)
    return scores


def evaluate_vcoco_files(vcoco_annotations_path: str, coco_annotations_path: str, split_ids_path: str,
                         predictions_path: str) -> VcocoMetrics:
    """``evaluate_vcoco`` on the official files and a detections pickle."""
    gt = load_vcoco_ground_truth(str(vcoco_annotations_path), str(coco_annotations_path), str(split_ids_path))
    try:
        with open(predictions_path, "rb") as f:
            detections = pickle.load(f)
    except (pickle.UnpicklingError, EOFError) as e:
        raise ValueError(f"{predictions_path}: not a readable pickle ({e})") from None
    return evaluate_vcoco(gt, detections, source=str(predictions_path))
