"""The built-in synthetic HOI dataset: the seeded generator, its reader and the one-call preparation."""

from data_prep.synthetic.reader import generate, read_synthetic

__all__ = ["generate", "read_synthetic"]
