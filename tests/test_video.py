"""Frame sources (image, folder with a corrupt file, mp4, missing file, a stream that drops) and the writers."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
from PIL import Image

from fallkd_lib.data.synthetic import generate_clip
from fallkd_lib.runtime.sources import Frame, ImageFolderSink, SourceStats, VideoSink, is_live, iter_frames


def write_image(path, value: int, size=(40, 30)) -> None:
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)


def test_single_image(tmp_path) -> None:
    write_image(tmp_path / "a.png", 77)
    frames = list(iter_frames(tmp_path / "a.png"))
    assert len(frames) == 1
    frame = frames[0]
    assert isinstance(frame, Frame) and (frame.index, frame.timestamp, frame.name) == (0, 0.0, "a")
    assert frame.image.shape == (30, 40, 3) and frame.image.dtype == np.uint8 and frame.image[0, 0, 0] == 77


def test_folder_skips_and_counts_a_corrupt_image(tmp_path, caplog) -> None:
    for name, value in (("c", 30), ("a", 10), ("b", 20)):
        write_image(tmp_path / f"{name}.png", value)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (tmp_path / "notes.txt").write_text("not an image")
    stats = SourceStats()
    with caplog.at_level(logging.WARNING, logger="fallkd_lib.runtime.sources"):
        frames = list(iter_frames(tmp_path, fps=2, stats=stats))
    assert [f.name for f in frames] == ["a", "b", "c"]  # sorted; bad.jpg sorts between a and b
    assert [f.timestamp for f in frames] == [0.0, 0.5, 1.0] and [f.index for f in frames] == [0, 1, 2]
    assert [int(f.image[0, 0, 0]) for f in frames] == [10, 20, 30]
    assert stats.skipped == 1 and "bad.jpg" in caplog.text


def test_mp4_timestamps_follow_the_video_clock(tmp_path) -> None:
    info = generate_clip(tmp_path / "walk", "walk", seconds=1.0, fps=10, size=64, seed=0)
    frames = list(iter_frames(info.video))
    assert len(frames) == info.n_frames == 10
    assert [f.index for f in frames] == list(range(10))
    assert [f.timestamp for f in frames] == pytest.approx([i / 10 for i in range(10)])
    assert frames[0].image.shape == (64, 64, 3) and frames[0].name == "walk_000000"
    assert [f.timestamp for f in iter_frames(info.video, fps=5)][:3] == pytest.approx([0.0, 0.2, 0.4])


def test_missing_and_unreadable_sources(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.mp4 not found"):
        list(iter_frames(tmp_path / "nowhere.mp4"))
    broken = tmp_path / "broken.mp4"
    broken.write_text("this is no video")
    with pytest.raises(ValueError, match="broken.mp4: OpenCV cannot open this video"):
        list(iter_frames(broken))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="folder without images"):
        list(iter_frames(tmp_path / "empty"))


class FakeCapture:
    """A camera that delivers `frames` frames, then fails every read."""

    def __init__(self, frames: int, opens: bool = True) -> None:
        self.left, self.opens, self.released = frames, opens, False

    def isOpened(self) -> bool:  # noqa: N802 (cv2's name)
        return self.opens

    def read(self):
        if self.left > 0:
            self.left -= 1
            return True, np.zeros((8, 8, 3), np.uint8)
        return False, None

    def release(self) -> None:
        self.released = True


def test_dropped_stream_reconnects_with_backoff_then_fails_clearly() -> None:
    caps = [
        FakeCapture(2),
        FakeCapture(1),
        FakeCapture(0, opens=False),
        FakeCapture(0),
        FakeCapture(0, opens=False),
    ]
    opened, sleeps, clock = [], [], iter([100.0, 100.5, 101.0])

    def opener(source):
        opened.append(source)
        return caps[len(opened) - 1]

    url = "rtsp://user:secret@cam.local/stream?token=abc"
    stats = SourceStats()
    frames = []
    with pytest.raises(ConnectionError) as err:
        for frame in iter_frames(
            url,
            stats=stats,
            opener=opener,
            retries=3,
            backoff=0.5,
            clock=lambda: next(clock),
            sleep=sleeps.append,
        ):
            frames.append(frame)
    assert [f.timestamp for f in frames] == [100.0, 100.5, 101.0] and [f.index for f in frames] == [0, 1, 2]
    # 2 frames, drop -> wait 0.5; reopen, 1 frame (count reset), drop -> 0.5; reopen fails -> 1.0; reopens but
    # no frame -> 2.0; reopen fails: 4th failure in a row > retries=3 -> ConnectionError
    assert opened == [url] * 5 and sleeps == [0.5, 0.5, 1.0, 2.0] and stats.reconnects == 4
    message = str(err.value)
    assert "no frame after 3 reconnect attempt(s)" in message
    assert "secret" not in message and "abc" not in message and "cam.local" in message
    assert all(c.released for c in caps if c.opens)


def test_live_source_detection() -> None:
    assert is_live(0) and is_live("1") and is_live("rtsp://x/y") and is_live("http://cam/mjpg")
    assert not is_live("video.mp4") and not is_live("folder/0a")


def test_video_sink_is_atomic_and_readable(tmp_path) -> None:
    path = tmp_path / "out" / "annotated.mp4"
    sink = VideoSink(path, fps=5, size=(64, 48))
    for i in range(5):
        sink.write(np.full((48, 64, 3), i * 40, np.uint8))
    sink.write(np.zeros((96, 128, 3), np.uint8))  # another size is resized
    assert not path.exists()  # only the tmp file while writing
    assert sink.close() == path and path.is_file() and sink.frames == 6
    assert sorted(p.name for p in path.parent.iterdir()) == ["annotated.mp4"]
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(5)
    ok, first = cap.read()
    cap.release()
    assert ok and first.shape == (48, 64, 3)


def test_image_folder_sink(tmp_path) -> None:
    sink = ImageFolderSink(tmp_path / "frames")
    assert sink.write(np.zeros((10, 12, 3), np.uint8), "f1").name == "f1.jpg"
    assert sink.write(np.zeros((10, 12, 3), np.uint8)).name == "frame_000001.jpg"
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["f1.jpg", "frame_000001.jpg"]
    assert Image.open(tmp_path / "frames" / "f1.jpg").size == (12, 10)
