"""Decoded triplets -> the PPDM / QPIC prediction layout the HICO-DET evaluator reads."""

from __future__ import annotations

from typing import Any

import numpy as np


def to_hico_predictions(
    triplets: dict[str, Any],
    boxes: np.ndarray,
    category_ids: np.ndarray,
    file_name: str,
    verb_ids: list[int],
    detection_scores: np.ndarray | None = None,
) -> dict[str, Any]:
    """Decoded triplets of one image -> the PPDM prediction dict (docs/evaluation.md).

    Args:
      triplets: one image of the decoder output (batch axis removed), numpy or tensors.
      boxes: (D, 4) valid detections in the original image frame, pixels;
        category_ids: (D,) COCO ids; detection_scores: (D,), written when given.
      verb_ids: dataset verb id (1-based) of each network verb index.

    Returns:
      {"file_name", "predictions": [{"bbox", "category_id"(, "score")}],
       "hoi_prediction": [{"subject_id", "object_id", "category_id", "score"}]},
      object_id -1 for a triplet without target (the project's extension of the
      layout, as in its readers and evaluator).
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    predictions = [{"bbox": [float(v) for v in box], "category_id": int(c)} for box, c in zip(boxes, category_ids)]
    if detection_scores is not None:
        for prediction, s in zip(predictions, detection_scores):
            prediction["score"] = float(s)
    count = int(np.asarray(triplets["num_triplets"]))
    columns = [np.asarray(triplets[k])[:count] for k in ("subject_index", "object_index", "verb", "score")]
    hoi = [{"subject_id": int(s), "object_id": int(o), "category_id": int(verb_ids[int(v)]), "score": float(p)}
           for s, o, v, p in zip(*columns)]
    return {"file_name": file_name, "predictions": predictions, "hoi_prediction": hoi}



def shuffle_partners(predictions: list[dict], seed: int = 0) -> list[dict]:
    """Baseline: the same subjects, verbs and scores with each target replaced by a random
    other detection of the image (targetless triplets unchanged). Shows what the
    embedding association adds over chance pairing."""
    rng = np.random.default_rng(seed)
    shuffled = []
    for image in predictions:
        num_boxes = len(image["predictions"])
        hois = []
        for hoi in image["hoi_prediction"]:
            hoi = dict(hoi)
            if hoi["object_id"] >= 0 and num_boxes > 1:
                others = [j for j in range(num_boxes) if j != hoi["subject_id"]]
                hoi["object_id"] = int(rng.choice(others))
            hois.append(hoi)
        shuffled.append({**image, "hoi_prediction": hois})
    return shuffled

