"""The shipped synthetic-world person detector: its file matches its model card, and it finds rendered people."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fallkd_lib.data.geometry import box_iou
from fallkd_lib.data.synthetic import render_scene
from fallkd_lib.detector.shipped import model_card_text, sha256
from fallkd_lib.runtime.detector import detect_people
from fallkd_lib.runtime.loaders import SHIPPED_CARD, load_detector, shipped_detector


def test_shipped_file_matches_its_card() -> None:
    card = json.loads(SHIPPED_CARD.read_text(encoding="utf-8"))
    path = shipped_detector()
    assert path.name == card["file"]
    assert path.stat().st_size == card["bytes"] <= 12 * 2**20
    assert sha256(path) == card["sha256"]
    assert card["metrics"]["valid"]["mAP50"] >= 0.7
    assert card["input_size"] == 320 and card["classes"] == ["person"]
    assert card["sha256"] in model_card_text(card)
    assert SHIPPED_CARD.with_suffix(".md").read_text(encoding="utf-8") == model_card_text(card)


@pytest.mark.slow
def test_shipped_detector_finds_people_in_a_fresh_scene() -> None:
    detector = load_detector(shipped_detector())  # the same path as a trained detector
    found = truth = 0
    for seed, style in ((1234, "park"), (5678, "cctv"), (91011, "park")):  # not the build's seed 0 stream
        image, people = render_scene(np.random.default_rng(seed), style, 320)
        boxes = detect_people(detector, [image], conf=0.25)[0]
        assert boxes.shape[1] == 6
        gt = torch.tensor(
            [
                [
                    (b.cx - b.w / 2) * 320,
                    (b.cy - b.h / 2) * 320,
                    (b.cx + b.w / 2) * 320,
                    (b.cy + b.h / 2) * 320,
                ]
                for _, b in people
            ]
        )
        truth += len(gt)
        if len(boxes):
            found += int((box_iou(gt, torch.from_numpy(boxes[:, :4])).max(axis=1) >= 0.5).sum())
    assert truth > 0 and found / truth >= 0.6
