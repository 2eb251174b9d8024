"""Dataset records (TFRecord schema) and the tf.data input pipeline."""
