"""Serving: the TF Serving SavedModel, its signatures, assets and warmup requests."""
