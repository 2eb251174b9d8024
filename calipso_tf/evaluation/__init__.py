"""HOI evaluation: HICO-DET and V-COCO metrics, reproducing the public reference code.

Pure numpy (no TensorFlow import), so scoring a predictions file is fast to start.
"""

from calipso_tf.evaluation.hico import HicoMetrics, evaluate_hico, evaluate_hico_files
from calipso_tf.evaluation.vcoco import VcocoGroundTruth, evaluate_vcoco, evaluate_vcoco_files

__all__ = [
    "HicoMetrics",
    "VcocoGroundTruth",
    "evaluate_hico",
    "evaluate_hico_files",
    "evaluate_vcoco",
    "evaluate_vcoco_files",
]
