"""One picture at a time: a trained run + a detector source -> PPDM prediction dict and decoded triplets."""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from calipso_tf.data import manifest as manifest_lib
from calipso_tf.fileio import write_json_atomic
from calipso_tf.inference import detectors, runner
from calipso_tf.inference.hico_output import to_hico_predictions
from calipso_tf.ops.preprocessing import fit_to_input
from calipso_tf.training import checkpoints
from calipso_tf.visualization.drawing import save_image

PICTURE_EXTENSIONS = (".jpg", ".jpeg", ".png")  # kept by written pictures; other formats become PNG


class Predictor:
    """Model + detector source + decoder for one frame at a time.

    Args:
      checkpoint: a model dir (config.yaml + checkpoints/) or checkpoint prefix.
      config_path: config YAML; None: the run's frozen config.yaml.
      overrides: config overrides "section.field=value".
      detections: the `detectors.make_source` spec: gt, a detections JSON or retinanet:WEIGHTS.
      annotations: ground truth (HICO-DET JSON layout) for detections "gt".
      nms_iou: NMS IoU threshold of the built-in RetinaNet.
    """

    def __init__(self, checkpoint: str, config_path: str | None = None, overrides: Sequence[str] = (),
                 detections: str = "gt", annotations: str | None = None, nms_iou: float = 0.5):
        model, self.config = checkpoints.load_model(checkpoint, config_path, list(overrides))
        manifest = manifest_lib.load(self.config.data.data_dir)
        self.verb_names = [v.name for v in manifest.verbs]
        self.verb_ids = [v.id for v in manifest.verbs]
        inference = self.config.inference
        self.source = detectors.make_source(detections, annotations=annotations,
                                            score_threshold=inference.detection_score_threshold,
                                            max_detections=inference.max_detections, nms_iou_threshold=nms_iou)
        self.predict = runner.make_predict_fn(model, self.config)

    def __call__(self, name: str, frame: np.ndarray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """One (H, W, 3) uint8 RGB frame named ``name`` (the detector source's key) -> (prediction, triplets).

        prediction: the PPDM dict plus "height" and "width" (pixels); triplets: the
        frame's `TripletDecoder` output (numpy, no batch axis), boxes in the frame's pixels.
        """
        image, scale = fit_to_input(tf.convert_to_tensor(frame), tuple(self.config.model.image_size))
        image, scale = image.numpy(), float(scale)
        ((det, triplets),) = runner.decode_batch(self.predict, image[None], [scale], [self.source(name, image, scale)],
                                                 self.config.inference.max_detections)
        prediction = to_hico_predictions(triplets, det.boxes, det.category_ids, name, self.verb_ids, det.scores)
        prediction.update(height=int(frame.shape[0]), width=int(frame.shape[1]))
        return prediction, triplets


def write_prediction(folder: str, name: str, prediction: dict[str, Any], picture: np.ndarray) -> None:
    """Writes <folder>/<stem>.json (the prediction) and the picture as <folder>/<name>, PNG unless JPEG or PNG."""
    stem, ext = os.path.splitext(name)
    write_json_atomic(os.path.join(folder, stem + ".json"), prediction)
    save_image(os.path.join(folder, stem + (ext if ext.lower() in PICTURE_EXTENSIONS else ".png")), picture)
