"""Pictures and videos to run a model on: listing image files, reading RGB pixels and video frames.

Videos are read with imageio when it is installed (pip install imageio imageio-ffmpeg
for MP4 and other FFmpeg formats); without it only animated images Pillow reads
(GIF, animated PNG / WebP) are supported.
"""

from __future__ import annotations

import os
from typing import Iterator

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def list_images(paths: list[str]) -> list[str]:
    """Files as given, folders expanded to their image files (sorted).

    Raises:
      ValueError: a path is neither a file nor a folder.
    """
    found = []
    for path in paths:
        if os.path.isdir(path):
            found += sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise ValueError(f"{path} is neither a file nor a folder")
    return found


def read_image(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of an image file."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def read_video(path: str) -> Iterator[np.ndarray]:
    """RGB uint8 frames (H, W, 3) of a video, decoded lazily: imageio if installed, else Pillow.

    Raises:
      ValueError: (at the call, not the first frame) imageio is missing and Pillow cannot read the file.
    """
    try:
        import imageio.v3 as iio
    except ImportError:
        return _pillow_frames(path)
    return (np.asarray(frame)[..., :3] for frame in iio.imiter(path))


def _pillow_frames(path: str) -> Iterator[np.ndarray]:
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        image = Image.open(path)
    except UnidentifiedImageError as e:
        raise ValueError(f"{path}: Pillow cannot read it and imageio is not installed; "
                         "pip install imageio imageio-ffmpeg, or convert it to a GIF") from e

    def frames() -> Iterator[np.ndarray]:
        with image:
            for frame in ImageSequence.Iterator(image):
                yield np.asarray(frame.convert("RGB"))

    return frames()
