"""Converts HICO-DET, V-COCO and the synthetic dataset into sharded TFRecords + a manifest.

Run ``python -m data_prep --help``; see docs/DATA.md.
"""
