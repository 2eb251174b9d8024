"""The valid (verb, object category) pairs of a converted dataset, as the decoder's mask.

HICO-DET evaluates 600 HOI categories (verb, object); a decoded triplet of any other
(verb, object) pair, or without a target, can never be a true positive there. The
decoder drops such candidates before it ranks them (`triplet_decoder.score_triplets`),
so they neither win a (person, verb) nor take one of the top-k slots. Where the pairs
come from:

- ``hico_det``: the 600 HOI categories shipped in calipso_tf/vocabularies (none is
  targetless, so no-target candidates are dropped);
- any other dataset: the (object, verb) categories annotated in its splits, as the
  manifest lists them (rare_hois + non_rare_hois); a verb annotated without a target
  (object -1, e.g. the synthetic ``run``) keeps its no-target candidate;
- a manifest without that list: None, nothing is masked (logged).
"""

from __future__ import annotations

import logging

import numpy as np

from calipso_tf.constants import NO_TARGET, NO_TARGET_CATEGORY
from calipso_tf.data.manifest import Manifest
from calipso_tf.vocabularies.vocabulary import hoi_mask

log = logging.getLogger("calipso_tf")


def valid_pair_mask(manifest: Manifest) -> np.ndarray | None:
    """bool (V, C) mask of the dataset's HOI categories, or None when the manifest names none.

    Row v is network verb v (manifest.verbs order); column c >= 1 is object category id c
    (C = the largest id of manifest.objects + 1); column NO_TARGET_CATEGORY (0) marks the
    verbs that may have no target. The choice is logged.
    """
    verb_index = {verb.id: v for v, verb in enumerate(manifest.verbs)}
    num_columns = max([NO_TARGET_CATEGORY] + [o.id for o in manifest.objects]) + 1
    if manifest.dataset == "hico_det":
        mask = hoi_mask(list(verb_index), np.arange(num_columns))
        source = "the 600 HICO-DET HOI categories"
    else:
        keys = manifest.rare_hois + manifest.non_rare_hois
        if not keys:
            log.warning("the %s manifest lists no HOI categories (rare_hois / non_rare_hois): no (verb, object) "
                        "pair is masked when decoding", manifest.dataset)
            return None
        mask = np.zeros((len(verb_index), num_columns), bool)
        for key in keys:
            object_id, verb_id = (int(part) for part in key.split(","))
            column = NO_TARGET_CATEGORY if object_id == NO_TARGET else object_id
            if verb_id not in verb_index or not 0 <= column < num_columns:
                raise ValueError(f"{manifest.dataset} manifest: HOI category {key!r} (object,verb) names a verb or "
                                 "object that is not in the manifest's verbs / objects")
            mask[verb_index[verb_id], column] = True
        source = f"the {len(keys)} HOI categories annotated in the {manifest.dataset} manifest"
    log.info("decoding keeps only valid (verb, object) pairs: %d of %d from %s; no-target candidates kept for %d "
             "of %d verbs", int(mask[:, 1:].sum()), len(verb_index) * (len(manifest.objects)), source,
             int(mask[:, NO_TARGET_CATEGORY].sum()), len(verb_index))
    return mask
