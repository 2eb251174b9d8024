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

from calipso_tf.cli import config_overrides, define_model_flags, run

FLAGS = flags.FLAGS
define_model_flags()
flags.DEFINE_string("output", None, "Version folder to create: <base_path>/<integer version>.")
flags.DEFINE_integer("max_detections", None, "Largest D the signatures accept. Default: inference.max_detections when > 0, else 128.")
flags.DEFINE_string("model_name", "calipso", "Model name written into the warmup requests.")
flags.DEFINE_bool("overwrite", False, "Replace the version folder if it exists.")
flags.mark_flags_as_required(["checkpoint", "output"])

log = logging.getLogger("calipso_tf")


def main(argv):
    del argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from calipso_tf.data import manifest as manifest_lib
    from calipso_tf.serving import export
    from calipso_tf.training import checkpoints

    try:
        export.check_output_dir(FLAGS.output, FLAGS.overwrite)
    except (ValueError, FileExistsError) as e:
        raise app.UsageError(f"--output {e}") from e
    model, config = checkpoints.load_model(FLAGS.checkpoint, FLAGS.config, config_overrides())
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
    run(main)
