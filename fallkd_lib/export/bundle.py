"""`fallkd export`: one folder with everything a Jetson TX2 needs to run the fall camera, checked before it is moved
into place.

detector.onnx and classifier.onnx at opset 13 (read back from the files), pipeline.json (every setting, read from
the models and the PipelineConfig), budget.json, parity.json (torch vs the exported files on rendered scenes and the
--calib frames: real people, trained weights), build_engines.sh, run_edge.py + fallkd_edge/ (fallkd_lib.edge) and
README.md. Everything is written into a temporary folder beside `out` and renamed into place at the end, so a
failed export leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from fallkd_lib import __version__
from fallkd_lib.config import FallStateConfig, PipelineConfig, as_dict
from fallkd_lib.edge import yolo
from fallkd_lib.edge.backends import OnnxRuntimeModel
from fallkd_lib.edge.boxes import IouTracker
from fallkd_lib.edge.fall_state import STATE_FIELDS
from fallkd_lib.edge.runner import BUNDLE_FORMAT
from fallkd_lib.errors import OutputExistsError, UsageError
from fallkd_lib.export import bundle_files
from fallkd_lib.export.budget import bundle_budget
from fallkd_lib.export.opset import check_opset, lower_opset

MAX_BATCH = 8  # the classifier engine's largest batch: people per frame classified in one call
TOLERANCE = {
    "max_abs_logit_diff": 1e-3,
    "top1_agreement": 0.99,
    "recall": 0.98,
    "precision": 0.98,
    "mean_iou": 0.99,
}
PARITY_SCENES = 12  # rendered scenes (two styles) added to the --calib frames for the parity checks


class ParityError(UsageError):
    """An exported model disagrees with its torch original beyond the tolerance."""


def _check_out(out: Path) -> None:
    """Refuse an output folder that holds an export or anything else."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        what = "another fallkd export (pipeline.json)" if (out / "pipeline.json").exists() else "other files"
        raise OutputExistsError(f"{out} already holds {what}: choose a new --out folder, or remove it first")


def _load_classifier(path: Path) -> object:
    """The torch classifier of a run folder or checkpoint, with a fall class."""
    from fallkd_lib.runtime.classifier import TorchClassifier, fall_class_index

    if path.suffix.lower() == ".onnx":
        raise UsageError(
            f"{path}: export needs the classifier's run folder or best.pt (the torch model is the parity reference)"
        )
    checkpoint = path / "best.pt" if path.is_dir() else path
    runtime = TorchClassifier.from_checkpoint(checkpoint, device="cpu")
    fall_class_index(runtime.class_names, checkpoint)  # no fall class: an error naming the classes
    return runtime


def _load_detector(path: Path) -> object:
    """The ultralytics detector of a .pt or .onnx file, refusing one with classes other than person."""
    from fallkd_lib.runtime.loaders import load_detector

    detector = load_detector(path)
    names = list(dict(detector.names).values())
    if names != ["person"]:
        raise UsageError(
            f"{path} detects {names}, not only 'person': the camera finds people and the classifier decides "
            "fall/normal; export a person detector (`fallkd train-det --mode person`)"
        )
    return detector


def _export_detector(path: Path, detector: object, imgsz: int | None, target: Path) -> int:
    """Write the detector at opset 13 into target; returns its fixed input side."""
    import onnx

    from fallkd_lib.export.detector import export_detector_onnx
    from fallkd_lib.runtime.detector import input_size

    size = input_size(detector, imgsz)
    if path.suffix.lower() == ".pt":
        export_detector_onnx(path, target, imgsz=size, opset=bundle_files.MAX_OPSET)
        return size
    model = onnx.load(str(path))
    fixed = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][2:]
    if imgsz is not None and fixed != [imgsz, imgsz]:
        raise UsageError(
            f"{path} takes a fixed {fixed} input; --imgsz {imgsz} needs the detector's .pt checkpoint"
        )
    onnx.save(lower_opset(model, bundle_files.MAX_OPSET, str(path)), str(target))
    return int(fixed[0])


def _parity_inputs(size: int, calib: list[np.ndarray]) -> list[tuple[np.ndarray, list]]:
    """(RGB frame, person boxes or []) of rendered scenes at the detector's size, then the --calib frames."""
    from fallkd_lib.data.synthetic import render_scene

    scenes = []
    for i in range(PARITY_SCENES):
        image, people = render_scene(np.random.default_rng(1000 + i), ("park", "cctv")[i % 2], size, "clear")
        boxes = [box.to_xyxy(size, size) for _, box in people]
        scenes.append((image, [b for b in boxes if b[2] - b[0] >= 2 and b[3] - b[1] >= 2]))
    return scenes + [(frame, []) for frame in calib]


def classifier_parity(runtime: object, onnx_path: Path, crops: np.ndarray) -> dict:
    """Torch vs the exported classifier on the same preprocessed crops: max |logit diff| and top-1 agreement."""
    from fallkd_lib.runtime.classifier import preprocess

    batch = preprocess(crops, runtime.input)
    expected = runtime.logits(batch)
    got = OnnxRuntimeModel(onnx_path)(batch.numpy())
    return {
        "crops": len(crops),
        "max_abs_logit_diff": float(np.max(np.abs(expected - got))),
        "top1_agreement": float(np.mean(expected.argmax(1) == got.argmax(1))),
    }


def int8_classifier(
    runtime: object,
    float_path: Path,
    out: Path,
    crops: np.ndarray,
    frames: list[np.ndarray],
    det: dict,
    size: int,
) -> dict:
    """classifier_int8.onnx calibrated on person crops (the parity scenes' and the people the exported detector
    finds in the --calib frames), and its agreement with the float file on those crops (CPU devices' option)."""
    from fallkd_lib.data.geometry import crop_people
    from fallkd_lib.edge.crops import softmax
    from fallkd_lib.export.classifier_int8 import quantize_classifier_onnx
    from fallkd_lib.runtime.classifier import preprocess

    detector = OnnxRuntimeModel(out.parent / "detector.onnx")
    found = [yolo.detect(detector, f, size, det["conf"], det["iou"], det["max_det"])[:, :4] for f in frames]
    crops = np.concatenate(
        [crops]
        + [crop_people(f, b, runtime.input.crop) for f, b in zip(frames, found, strict=True) if len(b)]
    )
    quantize_classifier_onnx(float_path, out, crops)
    batch = preprocess(crops, runtime.input).numpy()
    soft = [softmax(OnnxRuntimeModel(path)(batch)) for path in (float_path, out)]
    return {
        "file": out.name,
        "crops": len(crops),
        "max_abs_prob_diff": float(np.max(np.abs(soft[0] - soft[1]))),
        "top1_agreement": float(np.mean(soft[0].argmax(1) == soft[1].argmax(1))),
    }


def detector_parity(detector: object, onnx_path: Path, frames: list[np.ndarray], settings: dict) -> dict:
    """ultralytics on the original detector vs the edge's own decoding on the exported file: box agreement."""
    from fallkd_lib.export.detector import box_agreement
    from fallkd_lib.runtime.detector import detect_people

    size, conf, iou = settings["input_size"], settings["conf"], settings["iou"]
    reference = detect_people(detector, frames, size, conf=conf, iou=iou)
    model = OnnxRuntimeModel(onnx_path)
    candidate = [yolo.detect(model, f, size, conf, iou, settings["max_det"]) for f in frames]
    return box_agreement(reference, candidate)


def _check_parity(parity: dict) -> None:
    """Raise a ParityError naming the first value beyond TOLERANCE."""
    if not parity["detector"]["reference_boxes"] and not parity["detector"]["candidate_boxes"]:
        raise ParityError(
            f"the detector found no person on any of the {parity['detector']['frames']} parity frames, so its export "
            "cannot be checked: pass --calib with frames of your camera that show people, or a trained detector"
        )
    checks = [("classifier", "max_abs_logit_diff", False), ("classifier", "top1_agreement", True)]
    checks += [("detector", key, True) for key in ("recall", "precision", "mean_iou")]
    for model, key, higher in checks:
        value, limit = parity[model][key], TOLERANCE[key]
        if np.isnan(value) or (value < limit if higher else value > limit):
            raise ParityError(
                f"the exported {model} disagrees with the original: {key} = {value:.4g} (tolerance "
                f"{'>=' if higher else '<='} {limit}); nothing was written. See parity.json's numbers above; "
                "an opset conversion or an operator that ONNX Runtime computes differently is the usual cause"
            )


def pipeline_settings(detector_source: Path, classifier: object, size: int, config: PipelineConfig) -> dict:
    """pipeline.json: every setting the edge runtime needs, read from the models and the config."""
    from ultralytics.cfg import DEFAULT_CFG

    from fallkd_lib.runtime.classifier import fall_class_index

    model_input = classifier.input
    state = as_dict(config.state)
    assert tuple(state) == STATE_FIELDS == tuple(f for f in FallStateConfig.__dataclass_fields__)
    return {
        "format": BUNDLE_FORMAT,
        "version": 1,
        "fallkd_version": __version__,
        "detector": {
            "file": "detector.onnx",
            "opset": bundle_files.MAX_OPSET,
            "input_size": size,
            "letterbox": {"rule": "ultralytics LetterBox", "fill": 114, "center": True, "scaleup": True},
            "input": "RGB / 255, NCHW float32",
            "class_names": ["person"],
            "conf": config.conf,
            "iou": config.iou,
            "agnostic_nms": True,
            "max_det": int(DEFAULT_CFG.max_det),
        },
        "classifier": {
            "file": "classifier.onnx",
            "opset": bundle_files.MAX_OPSET,
            "model": classifier.model_name,
            "class_names": list(classifier.class_names),
            "fall_index": fall_class_index(classifier.class_names, classifier.source),
            "crop": model_input.crop.to_dict(),
            "image_size": model_input.image_size,
            "mean": list(model_input.mean),
            "std": list(model_input.std),
            "resize": "bilinear, antialias (torch's)",
            "max_batch": MAX_BATCH,
        },
        "tracker": {
            "type": "iou",
            "min_iou": IouTracker.MIN_IOU,
            "max_age": IouTracker.MAX_AGE,
            "host_tracker": config.tracker,
        },
        "confirm_conf": config.confirm_conf,
        "confirm_motion": config.confirm_motion,
        "state": state,
        "source": {"detector": str(detector_source), "classifier": str(classifier.source)},
    }


def export_bundle(
    detector: str | Path,
    classifier: str | Path,
    out: str | Path,
    imgsz: int | None = None,
    calib: str | Path | None = None,
    config: PipelineConfig | None = None,
    calib_frames: int = 32,
) -> dict:
    """Write the deploy bundle into out (a new or empty folder); returns {"pipeline", "budget", "parity"}."""
    from fallkd_lib.data.geometry import crop_people
    from fallkd_lib.export.calibration import write_calibration_cache
    from fallkd_lib.export.onnx import export_classifier_onnx
    from fallkd_lib.runtime.sources import sample_frames

    out, detector, classifier = Path(out), Path(detector), Path(classifier)
    config = config or PipelineConfig()
    _check_out(out)
    runtime = _load_classifier(classifier)
    yolo_model = _load_detector(detector)
    frames = []
    if calib is not None:
        frames = sample_frames(calib, calib_frames)
        if not frames:
            raise UsageError(
                f"{calib}: no readable frames for int8 calibration; pass a video or a folder of images"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        size = _export_detector(detector, yolo_model, imgsz, tmp / "detector.onnx")
        export_classifier_onnx(runtime, tmp / "classifier.onnx", opset=bundle_files.MAX_OPSET)
        opsets = {name: check_opset(tmp / f"{name}.onnx") for name in ("detector", "classifier")}
        pipeline = pipeline_settings(detector, runtime, size, config)
        inputs = _parity_inputs(size, frames)
        crops = np.concatenate([crop_people(f, b, runtime.input.crop) for f, b in inputs if b])
        parity = {
            "classifier": classifier_parity(runtime, tmp / "classifier.onnx", crops),
            "detector": detector_parity(
                yolo_model, tmp / "detector.onnx", [f for f, _ in inputs], pipeline["detector"]
            ),
            "opsets": opsets,
            "tolerance": TOLERANCE,
        }
        _check_parity(parity)
        budget = bundle_budget(tmp / "detector.onnx", tmp / "classifier.onnx")
        if frames:
            write_calibration_cache(tmp / "detector.onnx", frames, size, tmp / "detector_calib.cache")
            parity["classifier_int8"] = int8_classifier(
                runtime,
                tmp / "classifier.onnx",
                tmp / "classifier_int8.onnx",
                crops,
                frames,
                pipeline["detector"],
                size,
            )
        for name, data in (("pipeline", pipeline), ("budget", budget), ("parity", parity)):
            (tmp / f"{name}.json").write_text(json.dumps(data, indent=2, default=float), encoding="utf-8")
        from fallkd_lib.export.budget import budget_table

        size_cls = runtime.input.image_size
        (tmp / "build_engines.sh").write_text(
            bundle_files.build_script("images", size_cls, MAX_BATCH, bool(frames))
        )
        (tmp / "run_edge.py").write_text(bundle_files.RUN_EDGE)
        (tmp / "README.md").write_text(bundle_files.readme(pipeline, budget_table(budget), parity))
        bundle_files.copy_edge_package(tmp)
        for script in ("build_engines.sh", "run_edge.py"):
            (tmp / script).chmod(0o755)
        _check_out(out)  # nothing appeared meanwhile
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"pipeline": pipeline, "budget": budget, "parity": parity}
