"""calipso_tf: CALIPSO single-shot human-object interaction detection in TensorFlow 2 / Keras 3."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
