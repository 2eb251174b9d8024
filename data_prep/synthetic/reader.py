"""Reader of the synthetic dataset (``generator``): the HICO-DET JSON layout plus
``annotations/categories.json`` = {"verbs": [{"id", "name"}], "objects": [{"id", "name"}]}."""

from __future__ import annotations

import os

from calipso_tf.data.manifest import Category
from data_prep.hico_det import read_json_layout
from data_prep.source import DatasetSource, load_json


def read_synthetic(root: str, images_dir: str | None, strict: bool) -> DatasetSource:
    """Synthetic dataset root -> DatasetSource; images in images_dir (default root/images)/{train,test}2015."""
    annotation_dir = os.path.join(root, "annotations")
    categories = load_json(os.path.join(annotation_dir, "categories.json"))
    verbs = [Category(int(c["id"]), c["name"]) for c in categories["verbs"]]
    objects = [Category(int(c["id"]), c["name"]) for c in categories["objects"]]
    return read_json_layout(annotation_dir, images_dir or os.path.join(root, "images"), verbs, objects, strict,
                            dataset="synthetic")
