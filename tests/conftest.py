"""Shared fixtures: a tiny CPU-sized configuration and quiet TensorFlow logging."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import dataclasses  # noqa: E402

import pytest  # noqa: E402

from calipso_tf.config import Config, DataConfig, LossConfig, ModelConfig  # noqa: E402

TINY_IMAGE_SIZE = (64, 64)
TINY_VERBS = 3


def make_tiny_config(**model_overrides) -> Config:
    """A Config whose model builds in about a second on CPU: 64x64 inputs, ResNet-18
    at width 0.25, one 32-channel head block, T = 4."""
    model = ModelConfig(num_verbs=TINY_VERBS, image_size=TINY_IMAGE_SIZE, backbone_depth=18, backbone_width=0.25,
                        head_blocks=1, head_channels=32, embedding_dim=4)
    model = dataclasses.replace(model, **model_overrides)
    return Config(model=model, loss=LossConfig(), data=DataConfig(max_boxes=8, max_triplets=8))


@pytest.fixture
def tiny_config() -> Config:
    return make_tiny_config()


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    """Layer-name counters and the global RNG state do not leak from one test into the next."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield
