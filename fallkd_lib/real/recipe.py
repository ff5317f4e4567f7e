"""`fallkd real`: the whole camera trained offline on local real images, every step resuming from `work`.

    1. merge the training source and the other camera; crops of both, split by source
    2. crops of the synthetic world (park, street CCTV and room): the pretraining set, the stand-in for ImageNet
    3. the student and the teacher pretrained on them
    4. the teacher fine-tuned on the real crops with camera augmentation
    5. the student distilled from it (cached teacher outputs, the reference recipe a=0.85, T=2)
    6. a person detector pretrained on the synthetic scenes with the training source's people pasted in (real people
       at the sizes, places and lighting of the rendered cameras), then trained on the training source's images
    7. the camera's operating point: the detector's confidence (and the image-level fall threshold) with the best
       fall F1 on the training source's valid split, behind the student
    8. does the person detector find the people of the other camera: AP50 and recall there, beside its training
       source's test split (what limits the two-stage system on a camera it never saw)

Each model is scored on the training source's test split and on every crop of the other camera.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, replace
from pathlib import Path

from fallkd_lib.config import train_config
from fallkd_lib.errors import UsageError
from fallkd_lib.io import write_json_atomic
from fallkd_lib.real.stages import (
    RealRecipe,
    merged_root,
    pretrain,
    pretrain_detector,
    pretraining_kind,
    real_crops,
    source_images,
    styles_tag,
    synthetic_crops,
    train_source_detector,
)

STEPS = 8


def crop_scores(record: dict) -> dict[str, float]:
    """Accuracy and fall F1 on the test split and on the other camera (and its fall recall), from metrics.json."""
    test, other = record["test"], record["other_origin"]
    return {
        "test accuracy": test["accuracy"],
        "test fall F1": test["per_class"]["fall"]["f1"],
        "other accuracy": other["accuracy"],
        "other fall F1": other["per_class"]["fall"]["f1"],
        "other fall recall": other["per_class"]["fall"]["recall"],
    }


def person_detector(recipe: RealRecipe, work: Path) -> dict:
    """The person detector: pretrained on the synthetic scenes of recipe.det_synth_styles, the training source's
    people pasted in when recipe.det_paste (unless det_synth_epochs is 0), then trained on the training source's
    images (det_runs/person_pasted_<styles>, or person_synth_<styles> without pasting)."""
    if not recipe.det_synth_epochs:
        return train_source_detector(work, "person", recipe.det_epochs, recipe.train_source, seed=recipe.seed)
    styles = recipe.det_synth_styles
    start = pretrain_detector(
        work, recipe.det_synth_epochs, styles, recipe.synth_images, recipe.paste_from, recipe.seed
    )
    name = f"person_{pretraining_kind(recipe.paste_from)}_{styles_tag(styles)}"
    return train_source_detector(
        work, "person", recipe.det_epochs, recipe.train_source, start, name, recipe.seed
    )


def _saved_for(path: Path, key: dict) -> dict | None:
    """The JSON saved at path when it was computed for these inputs (its `key` entries equal), else None."""
    import json

    if not path.is_file():
        return None
    saved = json.loads(path.read_text(encoding="utf-8"))
    return saved if {k: saved.get(k) for k in key} == key else None


def operating_point(work: Path, source: str, detector: str | Path, classifier: str | Path) -> dict:
    """The detector's confidence gate and the fall threshold with the best image-level fall F1 on the source's valid
    split, behind this classifier (choose_gate over OPERATING_GATES; None when the detector found no one); cached in
    work/operating_point.json for these two models' files as they were, this source and these gates."""
    from fallkd_lib.detector.image_level import (
        OPERATING_GATES,
        choose_gate,
        image_level_scores,
        image_scores,
        image_truth,
    )
    from fallkd_lib.detector.image_systems import classify_boxes, detect_images, with_detections
    from fallkd_lib.runtime.loaders import load_classifier, load_detector

    weights = Path(classifier) / "best.pt" if Path(classifier).is_dir() else Path(classifier)
    models = {str(p): Path(p).stat().st_mtime_ns for p in (detector, weights)}
    key = {"models": models, "source": source, "gates": list(OPERATING_GATES)}
    path = Path(work) / "operating_point.json"
    saved = _saved_for(path, key)
    if saved is not None:
        return saved
    images = source_images(work, source, ["valid"])
    truth = image_truth(images)
    if not truth.any():
        raise UsageError(
            f"{source}: its valid split holds {len(images)} images and none with a fall, so no operating point "
            f"can be chosen there; check that the source has fall images and that its class names map to fall "
            f"(the merge's report: {merged_root(work) / 'report.json'})"
        )
    boxes = detect_images(load_detector(detector), images, min(OPERATING_GATES))
    scored = with_detections(images, classify_boxes(load_classifier(classifier, device="cpu"), images, boxes))
    gate, threshold = choose_gate(scored, OPERATING_GATES)
    scores = image_level_scores(truth, image_scores(scored, gate), threshold)
    found = math.isfinite(threshold)  # inf: no valid image scored above any gate, the detector found no one
    point = {
        "conf": gate if found else None,
        "threshold": threshold if found else None,
        "valid_images": len(images),
        "valid_fall_f1": scores["f1"] if found else None,
        "valid_accuracy": scores["accuracy"] if found else None,
        **key,
    }
    write_json_atomic(path, point)
    return point


def detector_reach(work: Path, recipe: RealRecipe, detector: str | Path) -> dict:
    """people_found of the person detector (boxes down to the lowest operating gate) on the training source's test
    split and on every image of the other camera, their labelled people being the merge's fall/normal boxes;
    cached in work/detector_reach.json for this detector file as it was."""
    from fallkd_lib.detector.image_level import OPERATING_GATES
    from fallkd_lib.detector.image_systems import detect_images, with_detections
    from fallkd_lib.detector.people_found import people_found
    from fallkd_lib.runtime.loaders import load_detector

    key = {"detector": {str(detector): Path(detector).stat().st_mtime_ns}, "conf": min(OPERATING_GATES)}
    path = Path(work) / "detector_reach.json"
    saved = _saved_for(path, key)
    if saved is not None:
        return saved
    model, out = load_detector(detector), dict(key)
    sets = {recipe.train_source: ["test"], recipe.other_source: ["train", "valid", "test"]}
    for source, splits in sets.items():
        images = source_images(work, source, splits)
        out[source] = {
            "splits": splits,
            **people_found(with_detections(images, detect_images(model, images, key["conf"]))),
        }
    write_json_atomic(path, out)
    return out


def _claim_seed(work: Path, seed: int) -> None:
    """Record the recipe's seed in work/seed.json, or refuse a work folder trained with another seed (its runs would
    resume as they are)."""
    import json

    path = work / "seed.json"
    if not path.is_file():
        write_json_atomic(path, {"seed": seed})
        return
    saved = json.loads(path.read_text(encoding="utf-8"))["seed"]
    if saved != seed:
        raise UsageError(
            f"{work} was trained with seed {saved} ({path}), not {seed}: its runs would resume as they are; "
            "pass another --out for another seed"
        )


def train_real(recipe: RealRecipe, work: str | Path, progress: bool = True) -> dict:
    """Train (or resume) the real-data camera in work/; returns and writes work/real.json (models and scores)."""
    from fallkd_lib.train.recipes import cache_teacher, distill, train_classifier

    recipe.check()
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    _claim_seed(work, recipe.seed)
    seconds: dict[str, float] = {}

    def step(name: str, fn: object, *args: object) -> object:
        start = time.perf_counter()
        if progress:
            print(f"[{len(seconds) + 1}/{STEPS}] {name} ...", flush=True)
        out = fn(*args)
        seconds[name] = round(time.perf_counter() - start, 1)
        return out

    folders = step("real crops", real_crops, recipe, work)
    synth = step(
        "synthetic crops", synthetic_crops, work, recipe.synth_images, recipe.image_size, recipe.synth_styles
    )
    cfg = train_config(
        "quick", model=recipe.student, image_size=recipe.image_size, epochs=recipe.epochs, seed=recipe.seed
    )
    pre = step(
        "synthetic pretraining",
        lambda: {
            m: pretrain(work, synth, replace(cfg, model=m, epochs=recipe.synth_epochs), progress)
            for m in (recipe.student, recipe.teacher)
        },
    )
    real, other, runs = folders[recipe.train_source], folders[recipe.other_source], work / "runs"
    camera = replace(cfg, augment="camera")
    teacher = step(
        "teacher",
        lambda: train_classifier(
            real,
            runs / "teacher",
            replace(camera, model=recipe.teacher),
            other_crops=other,
            weights=pre[recipe.teacher],
            progress=progress,
        ),
    )

    def student() -> dict:
        cache_teacher(runs / "teacher", real, camera, progress=progress)
        return distill(
            real, runs / "kd_cached", camera, runs / "teacher", "cached", other, progress, pre[recipe.student]
        )

    kd = step("student (KD)", student)
    det = step("person detector", person_detector, recipe, work)
    point = step(
        "operating point", operating_point, work, recipe.train_source, det["best"], runs / "kd_cached"
    )
    reach = step("detector on the other camera", detector_reach, work, recipe, det["best"])
    summary = {
        "recipe": {**asdict(recipe), "datasets": str(recipe.datasets)},
        "detector": det["best"],
        "classifier": str(runs / "kd_cached"),
        "teacher": str(runs / "teacher"),
        "operating_point": {k: v for k, v in point.items() if k not in ("models", "gates")},
        "scores": {
            "teacher": crop_scores(teacher),
            "student": crop_scores(kd),
            "detector_valid_mAP50": det["mAP50"],
            "detector_reach": {k: reach[k] for k in (recipe.train_source, recipe.other_source)},
        },
        "seconds": seconds,
    }
    write_json_atomic(work / "real.json", summary)
    return summary
