"""Inference: triplet decoding, detector sources, the runner over a split or one picture (predictor),
model evaluation, media reading and the official output formats (HICO-DET, V-COCO)."""
