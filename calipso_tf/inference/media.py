"""Pictures and videos to run a model on: listing image files, reading RGB pixels and video frames.

FFmpeg videos (VIDEO_EXTENSIONS) are read and written with imageio-ffmpeg's bundled
ffmpeg, one frame at a time (`open_video`, `write_video`); animated images (GIF, APNG,
WebP) with `read_video`.
"""

from __future__ import annotations

import collections
import os
from typing import Iterator

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm")  # decoded by FFmpeg (imageio-ffmpeg)


def is_ffmpeg_video(path: str) -> bool:
    return path.lower().endswith(VIDEO_EXTENSIONS)


def open_video(path: str) -> tuple[float, tuple[int, int], Iterator[np.ndarray]]:
    """(fps, (width, height), frames) of an FFmpeg video; frames: (H, W, 3) uint8 RGB, decoded one at a time.

    Raises:
      ValueError: naming the file, when FFmpeg cannot open it.
    """
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(path)
    try:
        meta = next(reader)
    except (OSError, RuntimeError, StopIteration) as e:
        raise ValueError(f"{path}: not a readable video ({e})") from e
    width, height = meta["size"]

    def frames() -> Iterator[np.ndarray]:
        for raw in reader:
            yield np.frombuffer(raw, np.uint8).reshape(height, width, 3)

    return float(meta["fps"]), (width, height), frames()


def write_video(path: str, frames: Iterator[np.ndarray], fps: float) -> int:
    """Writes (H, W, 3) uint8 RGB frames (all one size) as an H.264 MP4 at fps, atomically
    (a temp file next to path, renamed when complete); returns the number of frames written."""
    import imageio_ffmpeg

    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}.mp4"
    writer, count = None, 0
    try:
        for frame in frames:
            if writer is None:
                writer = imageio_ffmpeg.write_frames(tmp, (frame.shape[1], frame.shape[0]), fps=fps,
                                                     macro_block_size=1, ffmpeg_log_level="error")
                writer.send(None)
            writer.send(np.ascontiguousarray(frame, np.uint8))
            count += 1
        if writer is not None:
            writer.close()
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return count


def list_images(paths: list[str], exclude: str | None = None) -> list[tuple[str, str]]:
    """(path, name) of each image: files as given, folders walked (sorted) for their image files.

    name is what detections and ground truth are looked up by and outputs are named after
    ("/"-separated): a folder's images are named by their path relative to that folder, a file
    by its base name. Names two images would share take as many more of the images' parent
    folders as make them unique: a/x.jpg and b/x.jpg are named "a/x.jpg" and "b/x.jpg". A file
    given twice is listed once; the folder ``exclude`` (the output) is not walked.

    Raises:
      ValueError: a path is neither a file nor a folder.
    """
    found: dict[str, str] = {}  # absolute path -> name relative to its argument
    for path in paths:
        if os.path.isdir(path):
            for file in _image_files(path, exclude):
                found.setdefault(os.path.abspath(file), os.path.relpath(file, path).replace(os.sep, "/"))
        elif os.path.isfile(path):
            found.setdefault(os.path.abspath(path), os.path.basename(path))
        else:
            raise ValueError(f"{path} is neither a file nor a folder")
    files = list(found)
    names = _unique_names([file.split(os.sep) for file in files], [len(name.split("/")) for name in found.values()])
    return [(file, name) for file, name in zip(files, names)]


def _image_files(folder: str, exclude: str | None) -> list[str]:
    """The image files under folder, sorted, skipping the folder exclude."""
    excluded = os.path.abspath(exclude) if exclude else None
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if os.path.abspath(os.path.join(root, d)) != excluded)
        files += sorted(os.path.join(root, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS))
    return files


def _unique_names(parts: list[list[str]], depths: list[int]) -> list[str]:
    """The last depths[i] components of each parts[i], lengthened where two coincide (parts are distinct)."""
    depths = list(depths)
    while True:
        names = ["/".join(p for p in file[-depth:] if p) for file, depth in zip(parts, depths)]
        counts = collections.Counter(names)
        clashing = [i for i, name in enumerate(names) if counts[name] > 1]
        if not clashing:
            return names
        for i in clashing:
            depths[i] += 1


def read_image(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of an image file.

    Raises:
      ValueError: naming the file, when it cannot be read or decoded (missing, not an image, truncated).
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: not a readable image ({e})") from e


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
