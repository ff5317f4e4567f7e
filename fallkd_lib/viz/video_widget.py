"""Look at annotated clips in a notebook: a frame grid, and an ipywidgets player (clip menu + frame slider)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from matplotlib.figure import Figure

from fallkd_lib.errors import UsageError


def read_video_frames(path: str | Path, max_frames: int = 600) -> list[np.ndarray]:
    """The RGB frames of a video file (at most max_frames)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise UsageError(f"cannot open video {path}: is it an mp4 written by `fallkd detect`?")
    frames: list[np.ndarray] = []
    try:
        while len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return frames


def plot_frames(frames: list[np.ndarray], n: int = 6, title: str = "") -> Figure:
    """n frames spread evenly over a clip, side by side."""
    picks = np.linspace(0, len(frames) - 1, num=min(n, len(frames))).round().astype(int) if frames else []
    fig = Figure(figsize=(2.6 * max(len(picks), 1), 2.8))
    for k, index in enumerate(picks):
        ax = fig.add_subplot(1, len(picks), k + 1)
        ax.imshow(frames[index])
        ax.set_title(f"frame {index}", fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return fig


def video_player(videos: dict[str, str | Path]):
    """A clip menu and a frame slider over annotated videos; None (with a note) when ipywidgets is missing;
    unattended (settings.live_widgets() False) six frames of the first clip as a still figure."""
    from fallkd_lib.settings import live_widgets

    if not live_widgets():
        first = next(iter(videos))
        print("unattended run (FALLKD_HEADLESS=1): six frames of the first clip instead of the player")
        return plot_frames(read_video_frames(videos[first]), n=6, title=first)
    try:
        import ipywidgets as widgets
        from IPython.display import display
    except ImportError:
        print("ipywidgets is not installed: pip install ipywidgets (the frames are in the annotated videos)")
        return None
    cache: dict[str, list[np.ndarray]] = {}

    def show(clip: str, frame: int) -> None:
        frames = cache.setdefault(clip, read_video_frames(videos[clip]))
        fig = Figure(figsize=(5, 5))
        ax = fig.add_subplot()
        ax.imshow(frames[min(frame, len(frames) - 1)])
        ax.set_title(f"{clip}: frame {min(frame, len(frames) - 1)} of {len(frames)}")
        ax.axis("off")
        display(fig)

    first = next(iter(videos))
    slider = widgets.IntSlider(
        0, 0, max(len(read_video_frames(videos[first], 10_000)) - 1, 0), description="frame"
    )
    return widgets.interactive(show, clip=widgets.Dropdown(options=list(videos), value=first), frame=slider)
