"""calipso_tf: CALIPSO single-shot human-object interaction detection in TensorFlow 2 / Keras 3."""

import os

from calipso_tf.quiet_start import quiet_tensorflow_import

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TF_CPP_MIN_LOG_LEVEL, when set, also hides the C++ lines TensorFlow prints while it loads (which it does
# not filter itself), in every process that imports calipso_tf first: e.g. data_prep's shard writers.
quiet_tensorflow_import()

__version__ = "0.1.0"
