"""HICO-DET and V-COCO vocabularies shipped as package data (see vocabulary.py)."""
