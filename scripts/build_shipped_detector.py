"""Rebuild fallkd's shipped person detector and its model card (about an hour on 2 CPU cores; resumable).

    .venv/bin/python scripts/build_shipped_detector.py [--work data/shipped_detector] [--epochs 30]

Writes fallkd_lib/assets/person_detector_320.onnx, .json (the card) and .md (the card for people).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fallkd_lib.detector.shipped import DEFAULT_CONFIG, IMAGES_PER_STYLE, build_shipped_detector  # noqa: E402
from fallkd_lib.settings import configure_offline, get_settings  # noqa: E402


def main() -> int:
    """Build the detector with the card's recipe (overridable for experiments) and print the card."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=get_settings().data_dir / "shipped_detector")
    parser.add_argument("--epochs", type=int, default=DEFAULT_CONFIG.epochs)
    parser.add_argument("--images", type=int, default=IMAGES_PER_STYLE, help="synthetic images per style")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    configure_offline()
    cfg = replace(DEFAULT_CONFIG, epochs=args.epochs, patience=args.epochs)
    card = build_shipped_detector(args.work, cfg, images_per_style=args.images, seed=args.seed)
    print(json.dumps(card, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
