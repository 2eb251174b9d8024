"""Converts HICO-DET, V-COCO and the synthetic dataset into sharded TFRecords + a manifest.

Run ``python -m data_prep --help``; see docs/DATA.md.
"""

from calipso_tf.quiet_start import quiet_tensorflow_import

# Before any module of the package imports TensorFlow, in this process and in the shard writers:
# TF_CPP_MIN_LOG_LEVEL, when set, then also hides TensorFlow's C++ start-up lines.
quiet_tensorflow_import()
