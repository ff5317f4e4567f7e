"""`fallkd real`: the camera trained offline on local real YOLO datasets (fallkd_lib.real)."""

from __future__ import annotations

import argparse
from pathlib import Path

from fallkd_lib.real.stages import RealRecipe, parse_styles


def cmd_real(args: argparse.Namespace) -> None:
    """Train the real-data camera (resumes from --out) and print its scores and the next command."""
    from fallkd_lib.real.recipe import train_real

    recipe = RealRecipe(
        datasets=args.datasets,
        train_source=args.train,
        other_source=args.other,
        image_size=args.image_size,
        epochs=args.epochs,
        synth_images=args.synth_images,
        synth_styles=parse_styles(args.synth_styles),
        det_synth_styles=parse_styles(args.det_synth_styles),
        synth_epochs=args.synth_epochs,
        det_epochs=args.det_epochs,
        det_synth_epochs=args.det_synth_epochs,
        det_paste=args.det_paste,
        seed=args.seed,
    )
    summary = train_real(recipe, args.out)
    print(f"\nscores (trained on {recipe.train_source}; other camera: {recipe.other_source}):")
    for model in ("teacher", "student"):
        s = summary["scores"][model]
        print(
            f"  {model:8s} test accuracy {s['test accuracy']:.3f}, fall F1 {s['test fall F1']:.3f}; "
            f"other camera accuracy {s['other accuracy']:.3f}, fall F1 {s['other fall F1']:.3f}"
        )
    point = summary["operating_point"]
    print(f"  person detector valid mAP50 {summary['scores']['detector_valid_mAP50']:.3f}")
    reach = summary["scores"]["detector_reach"]
    for source, r in reach.items():
        top = "-" if r["top_box_person"] is None else f"{r['top_box_person']:.0%}"
        print(
            f"  person detector on {source} ({', '.join(r['splits'])}): AP50 {r['AP']:.3f}, recall {r['recall']:.3f}, "
            f"most confident box a person in {top} of images"
        )
    ours, theirs = (reach[name]["AP"] for name in (recipe.train_source, recipe.other_source))
    if theirs < 0.5 * ours:
        print(
            f"  warning: the detector finds {recipe.other_source}'s people far less well than its own camera's, so "
            "the two-stage system there is limited by it, not by the classifier; a detector pretrained on real "
            "people (COCO weights: `fallkd train-det --profile full`, online) is the remedy"
        )
    command = (
        f"fallkd score-clips CLIPS --detector {summary['detector']} --classifier {summary['classifier']} "
        "--out OUT --profile quick"
    )
    if point["conf"] is None:
        print(
            "  warning: the detector found no one on the valid split, so no operating point was chosen; train it "
            "longer (--det-epochs)"
        )
    else:
        print(
            f"  operating point on {recipe.train_source}'s valid split: detector conf {point['conf']:g}, fall "
            f"threshold {point['threshold']:.3f} (image-level fall F1 {point['valid_fall_f1']:.3f} on "
            f"{point['valid_images']} images)"
        )
        command += f" --set conf={point['conf']:g}"
    print(f"seconds per step: {summary['seconds']}; {Path(args.out) / 'real.json'}")
    print(
        "\nscore it on labelled clips (the quick camera settings, weak boxes tracked and a track confirmed at 0.3, "
        f"suit a detector pretrained offline, at the conf chosen above): {command} --loop-seconds 40"
    )


def add_real_commands(sub: argparse._SubParsersAction) -> None:
    """Add `fallkd real` to the fallkd parser."""
    p = sub.add_parser(
        "real",
        help="train the camera offline on two local real YOLO datasets (synthetic pretraining, camera "
        "augmentation, KD) and score it on the one it never trained on",
    )
    d = RealRecipe  # the dataclass's defaults
    p.add_argument("--datasets", type=Path, required=True, help="folder holding both datasets (YOLO layout)")
    p.add_argument("--out", type=Path, required=True, help="work folder (resumes)")
    p.add_argument("--train", default=d.train_source, help="dataset trained on (default %(default)s)")
    p.add_argument(
        "--other", default=d.other_source, help="the camera never trained on (default %(default)s)"
    )
    p.add_argument(
        "--image-size", type=int, default=d.image_size, help="classifier crop side (default %(default)s)"
    )
    p.add_argument("--epochs", type=int, default=d.epochs, help="fine-tuning epochs (default %(default)s)")
    p.add_argument("--synth-images", type=int, default=d.synth_images, help="synthetic scenes per style")
    p.add_argument(
        "--synth-styles",
        default=",".join(d.synth_styles),
        help="the classifiers' synthetic pretraining styles, comma-separated (default %(default)s)",
    )
    p.add_argument(
        "--det-synth-styles",
        default=",".join(d.det_synth_styles),
        help="the person detector's synthetic pretraining styles (default %(default)s)",
    )
    p.add_argument("--synth-epochs", type=int, default=d.synth_epochs, help="synthetic pretraining epochs")
    p.add_argument("--det-epochs", type=int, default=d.det_epochs, help="person detector epochs")
    p.add_argument(
        "--det-synth-epochs",
        type=int,
        default=d.det_synth_epochs,
        help="person detector pretraining epochs on the synthetic scenes (0: from scratch)",
    )
    p.add_argument(
        "--no-det-paste",
        dest="det_paste",
        action="store_false",
        help="pretrain the detector on rendered people only (default: the training source's people are pasted "
        "into its synthetic scenes)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        help="training draws (classifiers, pasted people, detector); another seed needs another --out (default "
        "%(default)s)",
    )
    p.set_defaults(func=cmd_real)
