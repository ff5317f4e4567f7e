"""Real footage, offline: train on one real image set, score on a camera never trained on, and measure what helps.

    nohup nice -n 19 .venv/bin/python benchmarks/bench_real.py --out /work/bench_real_out > bench_real.log 2>&1 &
        [--datasets ../shared/datasets] [--image-size 64] [--epochs 20] [--synth-images 400] [--synth-epochs 6]
        [--synth-styles park,cctv,room] [--det-synth-styles park,cctv,room] [--no-det-paste] [--det-epochs 20]
        [--seed 0]

Everything trains on `fall_action_laifi` (the merge's leakage-free re-split of it: 421 train, 123 valid, 141
test images) and is scored on its test split and on `hospital_bed_rf` (care-room CCTV, day and night IR: the
camera it never saw; all 900 of its images that keep a labelled person, every split: the 203 whose every box the
class map dropped, 94 of them a `danger` patient, are left out).

1. Crop classifiers (table `crops`, bench_real.csv), EfficientNet-B0 (the deployed student), fall F1 and accuracy
   at argmax on the laifi test crops and on every hospital_bed_rf crop:

    scratch                 from random weights (what bench_compare measures)
    synthetic-pretrained    first trained on crops of the synthetic world (both styles, the full world: dark,
                            grey, occluded), then fine-tuned on the real crops: the offline stand-in for ImageNet
    + camera augmentation   the same, fine-tuned with TrainConfig.augment="camera" (grey/IR, blur, noise, JPEG,
                            low light, perspective)
    + KD                    the same, distilled (cached teacher outputs, a=0.85, T=2) from a ResNet18 teacher that
                            was itself synthetic-pretrained and fine-tuned with camera augmentation
    + background class      the "+ camera augmentation" recipe with a third class, `background`: one random
                            person-shaped crop per laifi image that overlaps no labelled person (its laifi test
                            crops include those background crops; hospital's are fall/normal only)

2. Image level (table `image_level`, image_level.csv): an image is fall when any ground-truth box is fall; its score
   is the highest fall score of its detections; each system's threshold is the one with the best fall F1 on the
   laifi valid split (ties: the higher), then applied to laifi test and hospital_bed_rf. YOLOv5n detectors, 320 px,
   trained on the laifi train images with the same recipe (the shipped detector's: batch 16, --det-epochs), best
   epoch by valid mAP: a fall/normal and a person detector from scratch, and the recipe's person detector, first
   trained --det-synth-epochs on the synthetic scenes with the laifi train split's people pasted into them
   (fallkd_lib.data.paste; --no-det-paste: rendered people only), the offline stand-in for COCO weights:

    detector only           the 2-class fall/normal detector; score = the confidence of a box it calls fall
    two-stage (V)           the recipe's pretrained person detector (boxes with conf >= 0.25, the camera's default)
                            + classifier V; score = the classifier's fall probability
    ..., from scratch       the KD student behind the person detector trained from scratch
    two-stage (...) + gate  the same with a higher gate on the detector's confidence, chosen with the threshold on
                            the laifi valid split
    ..., conf X chosen ...  the two-stage system at its own operating point: the detector's confidence gate (0.02 to
                            0.9) and the threshold chosen together on laifi valid (a detector pretrained on rendered
                            people scores real ones low: its best gate is below the camera's default 0.25)
    ground truth + (V)      the labelled boxes + classifier V: the two-stage system's ceiling (a perfect detector)

3. Not a person (table `not_a_person`, not_a_person.csv): the person detector's false positives on hospital_bed_rf
   (boxes with conf >= 0.25 whose IoU with every person box of the source, posture label or not, is < 0.5): the
   share called fall by the "+ camera augmentation" classifier alone, with the background class, and with the gate,
   each at its own operating threshold, and what each costs in fall recall on the detections of fallen people.

4. Person detectors (table `person_detectors`, person_detectors.csv): does each person detector find the people
   of laifi test and of hospital_bed_rf (every person box of its source) at all: AP50 and recall (its boxes down
   to conf 0.02, ultralytics' 101-point AP), the share of images whose most confident box is a person, and the
   median confidence of each found person's best box. Rows: the detector trained on the synthetic scenes only,
   the one trained from scratch on laifi, and the recipe's (synthetic, then laifi).

The issue's targets (fall F1 > 0.61 and accuracy > 0.60 on hospital_bed_rf, fall F1 >= 0.80 on the laifi test split)
are printed beside the values. Every stage resumes from --out (default: a fresh temporary folder); stage times
are kept in --out/stage_seconds.json, so a resumed run still reports how long each stage took when it ran.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from real_image_level import image_level_stage  # noqa: E402
from real_stages import (  # noqa: E402
    classifier_stage,
    detector_stage,
    pretrained_person_detector,
    seed_tag,
)

from fallkd_lib.data.synthetic.scene import ALL_STYLES  # noqa: E402
from fallkd_lib.real.stages import (  # noqa: E402
    RealRecipe,
    parse_styles,
    pretraining_kind,
    real_crops,
    styles_tag,
    synthetic_crops,
)

TRAIN, OTHER = "fall_action_laifi", "hospital_bed_rf"


class Stages:
    """Run the named stages once, timing each; a stage that ran before keeps the longest time it took."""

    def __init__(self, work: Path) -> None:
        self.path = work / "stage_seconds.json"
        self.seconds = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.started = time.perf_counter()
        self.depth, self.nested = 0, set()  # a stage run inside another is not counted twice in the total

    def __call__(self, name: str, fn: Callable, *args: object) -> object:
        """fn(*args), timed; a stage's time is the longest it took (a resumed stage takes almost none)."""
        t0 = time.perf_counter()
        self.depth += 1
        if self.depth > 1:
            self.nested.add(name)
        try:
            out = fn(*args)
        finally:
            self.depth -= 1
        took = time.perf_counter() - t0
        first = name not in self.seconds
        # a resumed stage returns in seconds; one whose inputs changed does its work again: keep the longer
        self.seconds[name] = max(self.seconds.get(name, 0), round(took))
        self.path.write_text(json.dumps(self.seconds, indent=2))
        note = "" if first else f" (resumed; {self.seconds[name]} s when it ran)"
        print(f"[{time.perf_counter() - self.started:6.0f} s] {name}: {took:.0f} s{note}", flush=True)
        return out

    def total(self) -> int:
        """Seconds of all top-level stages, each as long as it took when it ran."""
        return sum(s for name, s in self.seconds.items() if name not in self.nested)


def main() -> int:
    """Prepare the data, train everything, score crops, images and false positives, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    parser.add_argument("--datasets", type=Path, default=default)
    parser.add_argument("--out", type=Path, default=None, help="keep (and resume) the work here")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--synth-images", type=int, default=400, help="synthetic scenes per style")
    parser.add_argument(
        "--synth-styles",
        default=",".join(ALL_STYLES),
        help="the classifiers' synthetic pretraining styles (comma-separated)",
    )
    parser.add_argument(
        "--det-synth-styles",
        default=",".join(ALL_STYLES),
        help="the person detector's synthetic pretraining styles",
    )
    parser.add_argument(
        "--no-det-paste",
        dest="det_paste",
        action="store_false",
        help="pretrain the person detector on rendered people only (default: laifi's people pasted in)",
    )
    parser.add_argument("--synth-epochs", type=int, default=6)
    parser.add_argument("--det-epochs", type=int, default=20, help="epochs of each detector")
    parser.add_argument(
        "--det-synth-epochs",
        type=int,
        default=10,
        help="person detector pretraining epochs (synthetic scenes)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="fine-tuning seed of the classifiers (other than 0: trained again beside seed 0's, same pretraining "
        "and detectors; tables saved with a _seed<N> suffix)",
    )
    args = parser.parse_args()
    if not all((args.datasets / name / "data.yaml").is_file() for name in (TRAIN, OTHER)):
        print(f"skipped: {TRAIN} and {OTHER} not found under {args.datasets}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        return run(work, args)


def run(work: Path, args: argparse.Namespace) -> int:
    """The stages of main() in work/, timed one by one; the tables go to the terminal and to CSV files."""
    stage = Stages(work)
    recipe = RealRecipe(
        args.datasets,
        image_size=args.image_size,
        synth_images=args.synth_images,
        synth_styles=parse_styles(args.synth_styles),
        det_epochs=args.det_epochs,
        det_synth_epochs=args.det_synth_epochs,
        det_synth_styles=parse_styles(args.det_synth_styles),
        det_paste=args.det_paste,
    )
    folders = stage("real crops", real_crops, recipe, work)
    synth = stage(
        "synthetic crops", synthetic_crops, work, args.synth_images, args.image_size, recipe.synth_styles
    )
    detectors = stage("detectors", detector_stage, work, args.det_epochs)
    detectors["person_pretrained"] = stage(
        f"person detector ({pretraining_kind(recipe.paste_from)}-pretrained, {styles_tag(recipe.det_synth_styles)})",
        pretrained_person_detector,
        work,
        recipe,
    )
    start = detectors["person_pretrained"]["pretrained"]  # the weights it started from (None: from scratch)
    if start:
        kind = "synthetic scenes, laifi's people pasted in" if recipe.paste_from else "synthetic scenes only"
        detectors["person_synthetic"] = {"best": start, "label": f"pretraining only ({kind})"}
    crops, runs = classifier_stage(stage, work, folders, synth, args)
    tag = seed_tag(args.seed)
    tables = stage(f"image level{tag}", image_level_stage, work, detectors, runs)
    total = stage.total()
    pd.set_option("display.width", 250)
    suffix = f"_seed{args.seed}" if args.seed else ""
    print(
        f"\ntrain on {TRAIN}, other camera {OTHER}; classifiers {args.image_size} px, {args.epochs} epochs, "
        f"fine-tuning seed {args.seed}, CPU"
    )
    print(crops.to_string(float_format="{:.3f}".format))
    for name, table in tables.items():
        print(f"\n{name}\n{table.to_string(float_format='{:.3f}'.format)}")
        table.to_csv(work / f"{name}{suffix}.csv")
    crops.to_csv(work / f"bench_real{suffix}.csv")
    print(
        f"\nstage seconds (when each ran): {stage.seconds}; total {total} s ({total / 60:.0f} min) over every "
        "stage this folder ran, all seeds"
    )
    cpu = sum(
        resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    print(f"CPU time of this run (it and its finished workers): {cpu:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
