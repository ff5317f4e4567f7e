"""Annotate frames for the detection video: one box per tracked person, coloured by its fall state."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

# RGB colours by FallTracker state ("recovered" lasts one frame: drawn like normal)
STATE_COLOURS = {
    "normal": (40, 200, 60),
    "recovered": (40, 200, 60),
    "down": (255, 150, 0),
    "alerted": (230, 30, 30),
}
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def track_label(track_id: int, prob: float, seconds_down: float) -> str:
    """'id 3 fall 0.92 down 4.1s' (the 'down' part only while the person is down)."""
    text = f"id {track_id} fall {prob:.2f}"
    return f"{text} down {seconds_down:.1f}s" if seconds_down > 0 else text


def draw_tracks(frame: np.ndarray, results: object, copy: bool = True) -> np.ndarray:
    """Draw every person of a FrameResult (or an iterable of PersonResult) on an RGB frame; returns the image."""
    people: Iterable = getattr(results, "people", results)
    image = frame.copy() if copy else frame
    height, width = image.shape[:2]
    scale = max(0.35, min(width, height) / 900)
    thick = max(1, round(min(width, height) / 400))
    for person in people:
        colour = STATE_COLOURS.get(person.state, STATE_COLOURS["normal"])
        x1, y1, x2, y2 = (int(round(v)) for v in person.box)
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, thick + (1 if person.state == "alerted" else 0))
        label = track_label(person.track_id, person.prob, person.seconds_down)
        (tw, th), base = cv2.getTextSize(label, _FONT, scale, 1)
        top = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else min(y1 + 1, height - th - base - 2)
        left = min(max(x1, 0), max(width - tw - 2, 0))
        cv2.rectangle(image, (left, top), (left + tw + 2, top + th + base + 2), colour, -1)
        cv2.putText(image, label, (left + 1, top + th + 1), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def annotate(frame: np.ndarray, results: object, timestamp: float) -> np.ndarray:
    """The annotated copy of an RGB frame: every tracked person (draw_tracks) and the frame time in the corner."""
    image = draw_tracks(frame, results)
    cv2.putText(image, f"t={timestamp:.1f}s", (4, 14), _FONT, 0.4, (255, 255, 255), 1)
    return image
