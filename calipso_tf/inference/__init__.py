"""Inference: triplet decoding, detector sources, the runner over a dataset split and the official output formats."""
