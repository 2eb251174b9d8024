"""Tensor operations shared by training, inference and serving: anchors, box geometry,
target encoding and image preprocessing."""
