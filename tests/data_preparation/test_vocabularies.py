"""The HICO-DET / V-COCO vocabularies shipped in calipso_tf/vocabularies, and their use by data_prep."""

from __future__ import annotations

import json

import numpy as np
from data_prep_util import convert, read_split
from hico_files import A1, AIRPLANE, H1, P1, P2, PERSON, T1, TA, write_images

from calipso_tf.constants import COCO_CATEGORIES
from calipso_tf.data import manifest as manifest_lib
from calipso_tf.vocabularies.vocabulary import (hico_hoi_categories, hico_objects, hico_verb_names, hoi_mask,
                                                vcoco_actions)

# HICO verb ids counted by hand in hico_list_vb.txt
ADJUST, BOARD, HUG, NO_INTERACTION, RIDE, ZIP = 1, 5, 40, 58, 77, 117


def test_hico_verbs_objects_and_hois():
    verbs = hico_verb_names()
    assert len(verbs) == len(set(verbs)) == 117 and verbs == sorted(verbs)
    assert [verbs[i - 1] for i in (ADJUST, BOARD, HUG, NO_INTERACTION, RIDE, ZIP)] == \
           ["adjust", "board", "hug", "no_interaction", "ride", "zip"]
    objects = hico_objects()
    assert len(objects) == 80 and objects[:4] == [(5, "airplane"), (53, "apple"), (27, "backpack"), (52, "banana")]
    assert objects[-1] == (24, "zebra") and [n for _, n in objects] == sorted(n for _, n in objects)
    assert {i for i, _ in objects} == set(COCO_CATEGORIES)
    assert all(name == COCO_CATEGORIES[i].replace(" ", "_") for i, name in objects)
    hois = hico_hoi_categories()
    assert len(hois) == len(set(hois)) == 600
    assert hois[0] == (BOARD, 5)  # HOI 1: board airplane
    assert hois[9] == (NO_INTERACTION, 5)  # HOI 10: no_interaction airplane
    assert hois[-1] == (NO_INTERACTION, 24)  # HOI 600: no_interaction zebra
    assert {v for v, _ in hois} == set(range(1, 118)) and {o for _, o in hois} == set(COCO_CATEGORIES)
    assert sorted(o for v, o in hois if v == NO_INTERACTION) == sorted(COCO_CATEGORIES)  # one per object


def test_hoi_mask_marks_exactly_the_600_pairs():
    coco_ids = [i for i, _ in hico_objects()]
    mask = hoi_mask(np.arange(1, 118), coco_ids)
    assert mask.shape == (117, 80) and mask.dtype == bool and mask.sum() == 600
    assert mask.any(0).all() and mask.any(1).all()
    sub = hoi_mask([BOARD, ZIP, 999], [5, 24])  # board airplane yes, board zebra no; 999 is no verb
    np.testing.assert_array_equal(sub, [[True, False], [False, False], [False, False]])


def test_vcoco_actions():
    actions = dict(vcoco_actions())
    assert len(vcoco_actions()) == len(actions) == 26 and vcoco_actions()[0] == ("hold", ("agent", "obj"))
    assert actions["eat"] == ("agent", "obj", "instr") and actions["cut"] == ("agent", "instr", "obj")
    assert actions["hit"] == ("agent", "instr", "obj") and actions["talk_on_phone"] == ("agent", "instr")
    assert sorted(a for a, r in actions.items() if r == ("agent",)) == ["run", "smile", "stand", "walk"]
    assert all(r[0] == "agent" for r in actions.values())


def test_json_layout_without_verb_names_uses_hico_names(tmp_path):
    """A PPDM-layout file with real HICO verb ids converts with the shipped names, no --verb-names."""
    write_images(tmp_path / "images")
    box = lambda b, c: {"bbox": b, "category_id": c}  # noqa: E731
    train = [{"file_name": "HICO_train2015_00000001.jpg", "annotations": [box(H1, PERSON), box(A1, AIRPLANE)],
              "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": BOARD},
                                 {"subject_id": 0, "object_id": 1, "category_id": RIDE}]},
             {"file_name": "HICO_train2015_00000002.jpg", "annotations": [box(P1, PERSON), box(P2, PERSON)],
              "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": HUG}]}]
    test = [{"file_name": "HICO_test2015_00000001.jpg", "annotations": [box(T1, PERSON), box(TA, AIRPLANE)],
             "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": NO_INTERACTION}]}]
    (tmp_path / "json").mkdir()
    for name, entries in (("trainval_hico.json", train), ("test_hico.json", test)):
        (tmp_path / "json" / name).write_text(json.dumps(entries))
    out = tmp_path / "out"
    assert convert("--dataset", "hico_det", "--annotations", tmp_path / "json", "--images", tmp_path / "images",
                   "--output", out, "--num-shards", 1, "--workers", 1) == 0
    verbs = manifest_lib.load(str(out)).verbs
    assert [(v.id, v.name) for v in verbs] == list(enumerate(hico_verb_names(), 1))
    train_split, test_split = read_split(out, "train"), read_split(out, "test")
    assert len(train_split) == 2
    names = lambda example: [verbs[v].name for v in example["triplets"][:, 2]]  # noqa: E731
    assert names(train_split[0]) == ["board", "ride"] and names(train_split[1]) == ["hug"]
    assert names(test_split[0]) == ["no_interaction"]
