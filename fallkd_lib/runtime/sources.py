"""Frame sources (image, image folder, video file, webcam, RTSP/HTTP stream) and writers (mp4 video, JPEG folder).

Every source yields :class:`Frame` objects holding an RGB uint8 image and a timestamp in seconds: a video file's
own clock (index / fps) so a recorded clip replays the same events at any processing speed, the wall clock for
live cameras and streams, and index / fps (default 1) for still images.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from fallkd_lib.data.imageio import ImageReadError, open_rgb
from fallkd_lib.errors import MissingFileError, RemoteError, UsageError
from fallkd_lib.io import tmp_path_for

_log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
STREAM_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://")


@dataclass
class Frame:
    """One frame: RGB uint8 image (H, W, 3), timestamp in seconds, running index, and a name for file outputs."""

    image: np.ndarray
    timestamp: float
    index: int
    name: str


@dataclass
class SourceStats:
    """What a source skipped (unreadable images, dropped reads) and how often a stream reconnected."""

    skipped: int = 0
    reconnects: int = 0


def is_live(source: str | int | Path) -> bool:
    """True for a webcam index (int or digit string) or a stream URL."""
    if isinstance(source, int):
        return True
    text = str(source)
    return text.isdigit() or text.lower().startswith(STREAM_PREFIXES)


def _read_image(path: Path) -> np.ndarray:
    return np.asarray(open_rgb(path))


def _image_frames(paths: list[Path], fps: float, stats: SourceStats) -> Iterator[Frame]:
    index = 0
    for path in paths:
        try:
            image = _read_image(path)
        except (ImageReadError, OSError, ValueError) as exc:
            stats.skipped += 1
            _log.warning("skipped unreadable image %s (%s); %d skipped so far", path, exc, stats.skipped)
            continue
        yield Frame(image, index / fps, index, path.stem)
        index += 1


def _video_frames(path: Path, fps: float | None, stats: SourceStats) -> Iterator[Frame]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise UsageError(
            f"{path}: OpenCV cannot open this video (not a video, truncated, or a codec this OpenCV build "
            "lacks); re-encode it to H.264/mp4v .mp4 or MJPG .avi, or pass a folder of images"
        )
    rate = fps or cap.get(cv2.CAP_PROP_FPS) or 0.0
    if not rate or not np.isfinite(rate) or rate <= 0:
        _log.warning("%s does not report its fps: timestamps assume 25 fps; pass fps= to override", path)
        rate = 25.0
    index = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), index / rate, index, f"{path.stem}_{index:06d}")
            index += 1
    finally:
        cap.release()
    if index == 0:
        raise UsageError(f"{path}: the video opened but holds no readable frame (empty or damaged file)")


def _live_frames(
    source: str | int,
    stats: SourceStats,
    opener: Callable[[str | int], object],
    retries: int,
    backoff: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Iterator[Frame]:
    shown = source if isinstance(source, int) else _redact(str(source))
    cap, index, failures = None, 0, 0
    try:
        while True:
            if cap is None:
                cap = opener(source)
                if not cap.isOpened():
                    cap.release()
                    cap = None
            ok, bgr = cap.read() if cap is not None else (False, None)
            if ok and bgr is not None:
                failures = 0
                yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), clock(), index, f"frame_{index:06d}")
                index += 1
                continue
            if cap is not None:
                cap.release()
                cap = None
            failures += 1
            if failures > retries:
                raise RemoteError(
                    f"camera {shown}: no frame after {retries} reconnect attempt(s) (stream dropped or camera "
                    "unreachable); check the URL/index, the network and the camera's power, or raise retries"
                )
            stats.reconnects += 1
            delay = backoff * 2 ** (failures - 1)
            _log.warning("camera %s: read failed, reconnect %d/%d in %.1f s", shown, failures, retries, delay)
            sleep(delay)
    finally:
        if cap is not None:
            cap.release()


def _redact(url: str) -> str:
    from fallkd_lib.runtime.webhook import redact_url

    return redact_url(url) if "://" in url else url


def iter_frames(
    source: str | int | Path,
    fps: float | None = None,
    stats: SourceStats | None = None,
    retries: int = 5,
    backoff: float = 0.5,
    opener: Callable[[str | int], object] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Frame]:
    """Frames of an image, image folder, video file, webcam index or stream URL (see the module docstring)."""
    stats = stats if stats is not None else SourceStats()
    if is_live(source):
        target = int(source) if str(source).isdigit() else str(source)
        yield from _live_frames(target, stats, opener or cv2.VideoCapture, retries, backoff, clock, sleep)
        return
    path = Path(source)
    if not path.exists():
        raise MissingFileError(
            f"{path} not found: pass an image, a folder of images, a video file, a webcam index (0) or an "
            "rtsp:// / http:// URL"
        )
    if path.is_dir():
        paths = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise UsageError(f"{path}: folder without images ({', '.join(IMAGE_SUFFIXES)})")
        yield from _image_frames(paths, fps or 1.0, stats)
        return
    if path.suffix.lower() in IMAGE_SUFFIXES:
        frames = list(_image_frames([path], fps or 1.0, stats))
        if not frames:
            raise UsageError(f"{path}: unreadable image (truncated or not an image); replace the file")
        yield from frames
        return
    yield from _video_frames(path, fps, stats)


class VideoSink:
    """Write RGB frames to an mp4 (mp4v) video; the file appears complete at close() (tmp file + rename)."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        """Open the writer; size is (width, height) and frames of another size are resized."""
        self.path, self.size, self.frames = Path(path), (int(size[0]), int(size[1])), 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = tmp_path_for(self.path)  # frames stream in; moved into place at close()
        codec = "MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*codec), float(fps), self.size)
        if not self._writer.isOpened():
            raise UsageError(f"cannot write {self.path} with codec {codec}: use an .mp4 or .avi path")

    def write(self, image: np.ndarray) -> None:
        """Append one RGB uint8 frame."""
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and move it into place."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            os.replace(self._tmp, self.path)
        return self.path

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ImageFolderSink:
    """Write each RGB frame as FOLDER/<name>.jpg (atomic per file)."""

    def __init__(self, folder: str | Path, quality: int = 90) -> None:
        """Create the folder."""
        self.folder, self.quality, self.frames = Path(folder), quality, 0
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, image: np.ndarray, name: str | None = None) -> Path:
        """Save one frame as JPEG; returns its path."""
        from fallkd_lib.data.imageio import save_image_atomic

        path = self.folder / f"{name or f'frame_{self.frames:06d}'}.jpg"
        save_image_atomic(Image.fromarray(image), path, quality=self.quality)
        self.frames += 1
        return path

    def close(self) -> Path:
        """Nothing to finish; returns the folder."""
        return self.folder


def open_sink(out: Path, frame: Frame, video_fps: float | None) -> VideoSink | ImageFolderSink:
    """An mp4 writer for videos and live sources (out/annotated.mp4), a JPEG folder for images (out/annotated/)."""
    if video_fps is None:
        return ImageFolderSink(out / "annotated")
    height, width = frame.image.shape[:2]
    return VideoSink(out / "annotated.mp4", video_fps, (width, height))


def video_fps_of(source: object) -> float | None:
    """The fps a video file reports (None for images and folders; 10 for live sources; 25 when unknown)."""
    if is_live(source):
        return 10.0
    path = Path(str(source))
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES or not path.is_file():
        return None
    cap = cv2.VideoCapture(str(path))
    try:
        rate = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0.0
    finally:
        cap.release()
    return float(rate) if rate and rate > 0 else 25.0


def sample_frames(source: str | Path, n: int, seed: int = 0) -> list[np.ndarray]:
    """Up to n RGB frames spread over a video, image or image folder (reservoir sampling, in source order)."""
    rng = np.random.default_rng(seed)
    kept: list[tuple[int, np.ndarray]] = []
    seen = 0
    for frame in iter_frames(source):
        if len(kept) < n:
            kept.append((frame.index, frame.image))
        elif (j := int(rng.integers(0, seen + 1))) < n:
            kept[j] = (frame.index, frame.image)
        seen += 1
    return [image for _, image in sorted(kept, key=lambda item: item[0])]


def split_spread(items: list, share: float) -> tuple[list, list]:
    """Split items into round(share * n) and the rest, both spread evenly over the whole list, order kept."""
    n = len(items)
    k = min(n, max(0, round(share * n)))
    first = [(i + 1) * k // n - i * k // n == 1 for i in range(n)]
    return [x for x, f in zip(items, first, strict=True) if f], [
        x for x, f in zip(items, first, strict=True) if not f
    ]
