"""The CALIPSO network: ResNet-FPN backbone, interaction head, losses, the Keras model and pretrained weights."""
