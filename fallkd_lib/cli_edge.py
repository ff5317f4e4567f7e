"""The edge commands of `fallkd`: `detect` (the camera pipeline), `score-clips` (the pipeline scored on
labelled real clips), `export-det` (ONNX and int8 detector) and `export` (the TX2 deploy bundle)."""

from __future__ import annotations

import argparse
from pathlib import Path

from fallkd_lib.cli_data import config_options
from fallkd_lib.config import PipelineConfig, cli_config
from fallkd_lib.errors import UsageError


def cmd_detect(args: argparse.Namespace) -> None:
    """Run the fall pipeline (detector, tracker, crop classifier, long-lie alerts) over a video, images or camera."""
    from fallkd_lib.runtime.pipeline import FallPipeline

    shortcuts = {"imgsz": args.imgsz, "conf": args.conf, "state.alert_after": args.alert_after}
    cfg = cli_config(PipelineConfig, args.profile, args.set, **shortcuts)
    pipeline = FallPipeline(args.detector, args.classifier, cfg, camera=args.camera)  # type: ignore[arg-type]
    summary = pipeline.run(
        args.source, args.out, save_video=not args.no_video, webhook=args.webhook, max_frames=args.max_frames
    )
    stages = ", ".join(f"{k} {v:.1f}" for k, v in summary["stage_ms"].items())
    print(
        f"{summary['frames']} frames at {summary['fps']} fps ({stages} ms/frame), tracking: {summary['tracking']}"
    )
    print(
        f"events {summary['events']}, alerts {summary['alerts']}, skipped frames {summary['skipped_frames']}"
    )
    print(
        f"wrote {Path(args.out) / 'summary.json'}, events.jsonl, alerts.jsonl, {summary['annotated'] or 'no video'}"
    )


def cmd_score_clips(args: argparse.Namespace) -> None:
    """Run the fall pipeline on every clip of a labelled folder; print each clip's outcome and a verdict."""
    from fallkd_lib.runtime.labelled_clips import (
        clip_scores_table,
        clip_scores_verdict,
        read_clip_labels,
        score_labelled_clips,
    )
    from fallkd_lib.runtime.pipeline import FallPipeline

    labels = read_clip_labels(args.folder)  # a bad folder fails before the models load
    cfg = cli_config(PipelineConfig, args.profile, args.set)
    pipeline = FallPipeline(args.detector, args.classifier, cfg)  # type: ignore[arg-type]
    print(f"{len(labels)} clips in {args.folder}, sampled at {args.fps or 'their own'} fps")
    result = score_labelled_clips(
        pipeline, args.folder, args.out, fps=args.fps or None, loop_seconds=args.loop_seconds
    )
    columns = ["kind", "outcome", "n_alerts", "first_alert_s", "delay_from_onset_s", "long_enough"]
    table = clip_scores_table(result)[columns]
    print(table.astype(object).where(table.notna(), "-").to_string(float_format="{:.2f}".format))
    print(clip_scores_verdict(result["summary"]))
    print(f"wrote {Path(args.out) / 'clip_scores.csv'} and .json; each clip's run in {args.out}/<clip stem>/")


def cmd_export_det(args: argparse.Namespace) -> None:
    """Export a detector to ONNX and, with --calib, quantize it to int8 and print speed and box parity."""
    from fallkd_lib.export import (
        detector_parity,
        detector_speed,
        export_detector_onnx,
        quantize_detector_onnx,
    )
    from fallkd_lib.io import write_json_atomic
    from fallkd_lib.runtime.detector import input_size
    from fallkd_lib.runtime.loaders import load_detector
    from fallkd_lib.runtime.sources import sample_frames, split_spread

    out = Path(args.out)
    torch_model = load_detector(args.weights)
    imgsz = input_size(torch_model, args.imgsz)
    onnx_path = export_detector_onnx(args.weights, out / "detector.onnx", imgsz=imgsz)
    print(f"wrote {onnx_path} ({imgsz} px)")
    if args.calib is None:
        return
    frames = sample_frames(args.calib, args.calib_frames + args.check_frames)
    if len(frames) < 4:
        raise UsageError(
            f"{args.calib}: only {len(frames)} readable frames; int8 calibration needs a few dozen"
        )
    calib, check = split_spread(frames, args.calib_frames / (args.calib_frames + args.check_frames))
    print(f"calibrating int8 on {len(calib)} frames, then timing and checking on {len(check)} others ...")
    int8 = quantize_detector_onnx(
        onnx_path, out / "detector_int8.onnx", calib, reduce_range=not args.full_range
    )
    print(f"wrote {int8} (calibrated on {len(calib)} frames of {args.calib})")
    models = {"torch": torch_model, "onnx": load_detector(onnx_path), "int8": load_detector(int8)}
    report = {
        "imgsz": imgsz,
        "calibration_frames": len(calib),
        "check_frames": len(check),
        "ms_per_frame": detector_speed(models, check, imgsz),
        "parity_onnx": detector_parity(models["torch"], models["onnx"], check, imgsz, conf=args.conf),
        "parity_int8": detector_parity(models["onnx"], models["int8"], check, imgsz, conf=args.conf),
    }
    write_json_atomic(out / "export.json", report)
    print(f"\n{'model':8s} {'ms/frame':>9s} {'boxes':>6s} {'recall':>7s} {'precision':>10s} {'mean IoU':>9s}")
    for name in models:
        ms = report["ms_per_frame"][name]
        parity = report.get(f"parity_{name}")
        cells = (
            f"{parity['candidate_boxes']:6d} {parity['recall']:7.3f} {parity['precision']:10.3f} "
            f"{parity['mean_iou']:9.3f}"
            if parity
            else f"{report['parity_onnx']['reference_boxes']:6d} {'(reference)':>28s}"
        )
        print(f"{name:8s} {ms:9.1f} {cells}")
    print(
        f"(onnx is checked against torch, int8 against onnx, on {len(check)} held-out frames); {out / 'export.json'}"
    )


def cmd_export(args: argparse.Namespace) -> None:
    """Write the deploy bundle (ONNX opset 13, pipeline.json, budget, parity, TensorRT script, run_edge.py)."""
    from fallkd_lib.export.budget import budget_table
    from fallkd_lib.export.bundle import export_bundle

    cfg = cli_config(PipelineConfig, args.profile, args.set, conf=args.conf)
    report = export_bundle(
        args.detector, args.classifier, args.out, imgsz=args.imgsz, calib=args.calib, config=cfg
    )
    parity, pipeline = report["parity"], report["pipeline"]
    print(budget_table(report["budget"]))
    cls, det = parity["classifier"], parity["detector"]
    print(
        f"parity: classifier max |logit diff| {cls['max_abs_logit_diff']:.2e}, top-1 {cls['top1_agreement']:.3f} "
        f"({cls['crops']} crops); detector recall {det['recall']:.3f}, precision {det['precision']:.3f}, "
        f"mean IoU {det['mean_iou']:.4f} ({det['frames']} frames); opsets {parity['opsets']}"
    )
    if pipeline["tracker"]["host_tracker"] != "iou":
        print(
            f"note: the bundle tracks with fallkd's IoU tracker; this camera's config used "
            f"{pipeline['tracker']['host_tracker']} (ByteTrack is ultralytics' and not shipped). "
            "`fallkd detect --set tracker=iou` shows on this machine what the bundle does"
        )
    print(
        f"wrote {args.out}: on the TX2 run `bash build_engines.sh`, then `python3 run_edge.py --source 0 --out alerts/`"
    )


def add_edge_commands(sub: argparse._SubParsersAction) -> None:
    """Add `detect`, `score-clips`, `export-det` and `export` to the fallkd parser."""
    p = sub.add_parser("detect", help="run fall detection with alerts on a video, images, webcam or stream")
    p.add_argument(
        "source", help="video file, image, image folder, webcam index (0) or rtsp:// / http:// URL"
    )
    p.add_argument(
        "--detector", type=Path, required=True, help="detector weights/best.pt or its (int8) ONNX export"
    )
    p.add_argument("--classifier", type=Path, required=True, help="classifier run folder, best.pt or .onnx")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--alert-after",
        type=float,
        default=None,
        help="seconds down after a seen fall before the alert (default: the profile's, 2)",
    )
    p.add_argument("--webhook", default=None, help="POST alerts here (token from $FALLKD_WEBHOOK_TOKEN)")
    p.add_argument("--imgsz", type=int, default=None, help="detector input side (default: its training size)")
    p.add_argument("--conf", type=float, default=None, help="detector confidence threshold")
    p.add_argument("--camera", default="camera", help="camera name in alerts")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument("--no-video", action="store_true", help="do not write the annotated video")
    config_options(p, "PipelineConfig (state.* = FallStateConfig)")
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("score-clips", help="score fall alerts per clip on a folder of labelled real videos")
    p.add_argument("folder", type=Path, help="folder with labels.csv and the videos it names")
    p.add_argument(
        "--detector", type=Path, required=True, help="detector weights/best.pt or its (int8) ONNX export"
    )
    p.add_argument("--classifier", type=Path, required=True, help="classifier run folder, best.pt or .onnx")
    p.add_argument("--out", type=Path, required=True, help="output folder (finished clips are not run again)")
    p.add_argument("--fps", type=float, default=5.0, help="frames per second to sample (0: every frame)")
    p.add_argument(
        "--loop-seconds",
        type=float,
        default=None,
        help="replay shorter lying-still clips until this many seconds (to pass state.found_down_after)",
    )
    config_options(p, "PipelineConfig (state.* = FallStateConfig)")
    p.set_defaults(func=cmd_score_clips)

    p = sub.add_parser(
        "export-det", help="export the detector to ONNX; with --calib also an int8 copy + parity"
    )
    p.add_argument("weights", type=Path, help="the detector's weights/best.pt")
    p.add_argument(
        "--out", type=Path, required=True, help="folder for detector.onnx (and detector_int8.onnx)"
    )
    p.add_argument("--imgsz", type=int, default=None, help="fixed input side (default: the training size)")
    p.add_argument("--calib", default=None, help="video, image or folder of the camera's frames for int8")
    p.add_argument("--calib-frames", type=int, default=32, help="frames that set the int8 ranges")
    p.add_argument("--check-frames", type=int, default=32, help="other frames that measure parity and speed")
    p.add_argument(
        "--conf", type=float, default=PipelineConfig.conf, help="confidence threshold of the parity check"
    )
    p.add_argument(
        "--full-range",
        action="store_true",
        help="8-bit weights (default 7: no overflow on AVX2 CPUs without VNNI)",
    )
    p.set_defaults(func=cmd_export_det)

    p = sub.add_parser(
        "export", help="write the TX2 deploy bundle: ONNX opset 13, TensorRT script, run_edge.py"
    )
    p.add_argument("--detector", type=Path, required=True, help="person detector best.pt or its ONNX export")
    p.add_argument("--classifier", type=Path, required=True, help="classifier run folder or best.pt")
    p.add_argument("--out", type=Path, required=True, help="a new (or empty) folder for the bundle")
    p.add_argument("--imgsz", type=int, default=None, help="detector input side (default: its training size)")
    p.add_argument(
        "--calib", default=None, help="video or folder of the camera's frames: int8 cache + parity"
    )
    p.add_argument("--conf", type=float, default=None, help="detector confidence threshold")
    config_options(p, "PipelineConfig (state.* = FallStateConfig)")
    p.set_defaults(func=cmd_export)
