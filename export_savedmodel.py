"""Exports a trained CALIPSO run as a TF Serving SavedModel version (docs/SERVING.md).

  python export_savedmodel.py --checkpoint work_dirs/synthetic --output export/calipso/1
  python export_savedmodel.py --checkpoint RUN_DIR --output export/calipso/2 --max-detections 100 \
      --set inference.score_threshold=0.05

Verb and object names come from the dataset manifest (--data_dir, default the run
config's data.data_dir) and are stored as assets/verbs.txt and assets/objects.txt
next to assets/config.yaml; warmup requests go to assets.extra/. An existing version
is never replaced without --overwrite.
"""

from __future__ import annotations

import logging

from absl import app, flags

import calipso_tf  # noqa: F401  (sets KERAS_BACKEND)
from calipso_tf.cli import parse_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "A model dir (config.yaml + checkpoints/) or checkpoint prefix.")
flags.DEFINE_string("output", None, "Version folder to create: <base_path>/<integer version>.")
flags.DEFINE_string("config", None, "Config YAML; default: the run's frozen config.yaml.")
flags.DEFINE_multi_string("set", [], "Config override section.field=value, e.g. inference.top_k=50.")
flags.DEFINE_string("data_dir", None, "Converted dataset whose manifest names verbs and objects.")
flags.DEFINE_integer("max_detections", None, "Largest D the signatures accept. Default: inference.max_detections.")
flags.DEFINE_string("model_name", "calipso", "Model name written into the warmup requests.")
flags.DEFINE_bool("overwrite", False, "Replace the version folder if it exists.")
flags.mark_flags_as_required(["checkpoint", "output"])

log = logging.getLogger("calipso_tf")


def main(argv):
    del argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from calipso_tf.training import checkpoints
    from calipso_tf.serving import export
    from calipso_tf.data import manifest as manifest_lib

    try:
        export.check_output_dir(FLAGS.output, FLAGS.overwrite)
    except (ValueError, FileExistsError) as e:
        raise app.UsageError(f"--output {e}") from e
    overrides = list(FLAGS.set) + ([f"data.data_dir={FLAGS.data_dir}"] if FLAGS.data_dir else [])
    model, config = checkpoints.load_model(FLAGS.checkpoint, FLAGS.config, overrides)
    manifest = manifest_lib.load(config.data.data_dir)
    if manifest.num_verbs != config.model.num_verbs:
        raise app.UsageError(f"{config.data.data_dir}: the manifest names {manifest.num_verbs} verbs but the model "
                             f"has {config.model.num_verbs}; pass the run's dataset with --data_dir")
    path = export.export_savedmodel(
        model, config, FLAGS.output, [v.name for v in manifest.verbs], [(o.id, o.name) for o in manifest.objects],
        max_detections=FLAGS.max_detections, person_category_id=manifest.person_category_id,
        overwrite=FLAGS.overwrite, model_name=FLAGS.model_name)
    log.info("exported %s (%.1f MB)", path, export.directory_size(path) / 1e6)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
