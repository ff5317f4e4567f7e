"""The pipeline judged on clips with known answers: render the synthetic clip set, run detector -> crops ->
classifier -> tracker -> alerts on every clip, and score the alerts (recall, false alerts, delay)."""

from __future__ import annotations

import time
from pathlib import Path

from fallkd_lib.config import PipelineConfig

CLIPS = {"per_scenario": 2, "seconds": 20.0, "fps": 5.0, "size": 320}  # every scenario twice, 20 s at 5 fps


def pipeline_on_clips(
    detector: object,
    classifier: object,
    clips_dir: str | Path,
    out_dir: str | Path,
    cfg: PipelineConfig,
    progress: bool = True,
    **clip_settings: float,
) -> dict:
    """Render (or reuse) the clip set in clips_dir, run a FallPipeline on each clip, and return score_clip_set's
    summary plus "timing": {"seconds": pipeline wall time, "frames": frames run}; clip_settings override CLIPS."""
    from fallkd_lib.data.synthetic import generate_clip_set
    from fallkd_lib.runtime.events import score_pipeline_on_clips
    from fallkd_lib.runtime.pipeline import FallPipeline

    clips = generate_clip_set(clips_dir, **(CLIPS | clip_settings), progress=progress)  # type: ignore[arg-type]
    pipeline = FallPipeline(detector, classifier, cfg)
    started = time.perf_counter()
    summary = score_pipeline_on_clips(pipeline, clips, out_dir, progress=progress)
    seconds = round(time.perf_counter() - started, 1)
    return summary | {"timing": {"seconds": seconds, "frames": sum(c.n_frames for c in clips)}}


QUICK_CLASSIFIER_RUN = "efficientnet_b0_kd_cached"  # the quick camera's classifier: the distilled student


def quick_camera_on_clips(runs_dir: str | Path, clips_dir: str | Path, progress: bool = True) -> dict:
    """The quick profile's camera on the clip set: the shipped person detector, the cached-KD student of runs_dir
    and the quick PipelineConfig; outputs go to runs_dir/pipeline. Returns pipeline_on_clips' summary."""
    from fallkd_lib.config import pipeline_config
    from fallkd_lib.runtime.loaders import shipped_detector

    runs_dir = Path(runs_dir)
    classifier = runs_dir / QUICK_CLASSIFIER_RUN
    return pipeline_on_clips(
        shipped_detector(), classifier, clips_dir, runs_dir / "pipeline", pipeline_config("quick"), progress
    )


def clip_verdict(summary: dict) -> str:
    """One line: long lies alerted, false alerts on the clips that must stay quiet, and the mean delay."""
    delay = summary["delay_mean"]
    return (
        f"long lies alerted {summary['alerted']}/{summary['falls_should_alert']} (recall {summary['recall']:.2f}), "
        f"false alerts {summary['false_alerts']}, mean delay "
        + ("n/a" if delay != delay else f"{delay:.1f} s")
        + f" over {summary['clips']} clips"
    )
