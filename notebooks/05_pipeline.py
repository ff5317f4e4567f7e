# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/fallkd/fallkd/blob/main/notebooks/05_pipeline.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://raw.githubusercontent.com/fallkd/fallkd/main/notebooks/05_pipeline.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/fallkd/fallkd/main?labpath=notebooks%2F05_pipeline.ipynb)

# %% [markdown]
# # 05 · The pipeline: find people, follow them, and call for help when someone stays down
#
# A fall is not a single frame. People bend to tie a shoe, sit on the grass, lie on a bench in the sun; a
# classifier looking at one frame will sometimes say `fall` for them, and sometimes miss a real fall for a
# frame or two. What the mission needs is an **event**: *this person went down and has not got up for N
# seconds*, the **long lie** that tells a medical station to send someone. This notebook builds that from the
# two models of notebooks 02-04:
#
# 1. **detect** people in the frame (YOLO, notebook 02);
# 2. **crop** each person with the same padding and letterbox as the training crops (the very same function),
#    and **classify** all crops of a frame in **one batched call** (notebooks 03-04);
# 3. **track** each person from frame to frame (ByteTrack: boxes are matched to existing tracks by IoU, with a
#    second pass for low-confidence boxes so that a person half hidden behind a bench keeps their id), and
#    **confirm** a track before it counts: it reaches the classifier only once one of its boxes was confident
#    (`confirm_conf`, below);
# 4. per track, a small **state machine**: the fall probability is smoothed over time (an exponential moving
#    average with a time constant in seconds, so it behaves the same at 5 or 30 frames per second); the state
#    becomes `down` when the smoothed value rises above 0.7 and returns to `normal` only when it stays below 0.4
#    (**hysteresis**: no flicker at 0.5); after `alert_after` seconds down, one **alert**; then a **cooldown**
#    before the same person can raise another;
# 5. **two alert paths**, because a fall is an event, not a pose. The *fast path* (`alert_after`, 2 s) needs
#    the fall itself to have been seen: within 1.5 s (`fall_window`) the top of the person's box dropped
#    by at least 0.4 of the box's height (`fall_drop`), as a head does when a body goes from upright to the
#    ground, no more than 5 s (`fall_lookback`) before the classifier turned the track `down`, or while it is
#    `down` (a classifier may call a standing person `down` when the frame cuts off their head; their fall,
#    when it comes, starts the 2 s from the drop). Every other
#    `down` track takes the *slow path* and waits `found_down_after` (30 s): someone found already lying, a
#    person who sat down on the grass (slower, and the head drops less), a still object that looks like a
#    person lying. So a classifier that mistakes a sitter for a fallen person costs one late alert instead of
#    a quick false one, and a fall the geometry misses is still reported, later. Trackers often switch a
#    person's id just as they fall (the box turns from tall to wide), so a new track born on top of a live
#    track takes over its recent boxes and the time of its drop (and the time of its last alert: one person, one
#    alert per cooldown; two loose boxes on one lying person that come due within a second or so of each other
#    are one fall, too). The fast path is short because the fall itself is the evidence: the 2 s only let
#    someone who trips and is straight back up go unreported, and help should not wait longer; a person who
#    gets up after the alert is reported `recovered`;
# 6. **alerts** go to every sink (the screen, a JSON-lines log, an HTTP webhook with timeouts and retries);
#    a failing sink never stops the camera, and every alert stays in the log.

# %%
# Colab and Kaggle only (on a laptop, in CI or on Binder this cell does nothing): fetch the course, install what the
# host lacks without touching its own torch, and keep data and runs where a new session finds them.
import os
import subprocess
import sys
from pathlib import Path

USE_DRIVE = True  # Colab: data/ and runs/ on your Google Drive (it asks once), so a new session resumes
if "google.colab" in sys.modules or "KAGGLE_KERNEL_RUN_TYPE" in os.environ:
    from IPython import get_ipython

    REPO = Path("fallkd").resolve()
    if not (REPO / "pyproject.toml").is_file():
        subprocess.run(["git", "clone", "-q", "--depth", "1", "https://github.com/fallkd/fallkd", str(REPO)], check=True)
    os.chdir(REPO)  # requirements.txt installs fallkd_lib from "."
    sys.path.insert(0, str(REPO))  # importable now, without restarting the kernel
    from fallkd_lib.course.host import keep_host_torch, persistent_storage  # standard library only

    # the %pip magic, written as a call so that it can sit in this `if`; -c keeps the host's torch and torchvision
    get_ipython().run_line_magic("pip", f"install -q -r requirements.txt -c {keep_host_torch()}")
    print(persistent_storage(USE_DRIVE) or "data/ and runs/ live in this session only")

# %%
PROFILE = "quick"  # "quick" (synthetic clips and models, CPU) or "full" (your trained models, real footage)

# %%
# %matplotlib inline
from fallkd_lib.config import detect_config, pipeline_config, train_config
from fallkd_lib.data.stage import run_data_stage
from fallkd_lib.settings import configure_offline, get_settings

if PROFILE == "quick":
    configure_offline()
settings = get_settings()
data = run_data_stage(PROFILE, settings.data_dir / ("course" if PROFILE == "quick" else "course_full"), progress=False)
runs = settings.runs_dir / "course" / PROFILE
dcfg, tcfg = detect_config(PROFILE), train_config(PROFILE)
pcfg = pipeline_config(PROFILE)  # the camera's thresholds, tracker and fall state (alerts 2 s after a seen fall)
pcfg

# %% [markdown]
# ## 1. The two models
#
# **The detector.** In the quick profile the camera uses the person detector that ships with fallkd: a
# YOLOv5n trained from scratch for about an hour of CPU on synthetic scenes at 320 px, plus frames of rendered
# clips (people mid-fall and lying, the poses the camera must not lose). Its model card
# (`fallkd_lib/assets/person_detector_320.md`) gives the command that rebuilds it, the data seed and its
# metrics. The three-epoch detector of notebook 02 was the lesson in *how* to train one; it is far too weak to
# drive a camera. In the full profile, the camera uses your detector from notebook 02. Both load through the
# same `load_detector`, and the detector's input size is read from the file, never restated.
#
# **The classifier** is the distilled EfficientNet-B0 of notebook 04 (the calls below reuse the runs of
# notebooks 02-04 when they exist and train them otherwise). The fall/normal detector trained here is for
# section 6 only.

# %%
from fallkd_lib.detector.dataset import detector_dataset
from fallkd_lib.detector.train import train_detector
from fallkd_lib.runtime.loaders import shipped_detector, shipped_detector_card
from fallkd_lib.train.recipes import cache_teacher, distill, train_teacher

person_yaml = detector_dataset(data["merged"], runs / "detector" / "data_person", "person")
person = train_detector(person_yaml, dcfg, out_dir=runs / "detector", name="person", plots=False, resume="auto")
if PROFILE == "full":
    detector = person["best"]
else:  # notebook 02's detector is kept for the export lesson of section 8
    detector = shipped_detector()
    card = shipped_detector_card()
    print("shipped detector:", card["what"], "| valid mAP50", card["metrics"]["valid"]["mAP50"])
fall_yaml = detector_dataset(data["merged"], runs / "detector" / "data_fall_normal", "fall_normal")
fall_normal = train_detector(fall_yaml, dcfg, out_dir=runs / "detector", name="fall_normal", plots=False, resume="auto")
train_teacher(data["crops_dir"], runs / "teacher", tcfg, progress=False)
cache_teacher(runs / "teacher", data["crops_dir"], tcfg, progress=False)
student = distill(data["crops_dir"], runs / "efficientnet_b0_kd_cached", tcfg, runs / "teacher", "cached", progress=False)
classifier = runs / "efficientnet_b0_kd_cached"
print("classifier test accuracy:", round(student["test"]["accuracy"], 3),
      "| fall recall:", round(student["test"]["per_class"]["fall"]["recall"], 3))

# %% [markdown]
# ## 2. Clips with known answers
#
# The generator of notebook 01 also makes short videos with ground truth: a person who walks, falls and stays
# down (`fall_stay`, must alert), one who falls, lies about 3 s and gets up (`fall_recover`: down longer than
# `alert_after`, so it must alert once, and then the camera reports `recovered`; with a 10 s `alert_after` it
# must not), one who sits down for a long time (`sit`, a hard negative), people walking, and a small crowd in
# which one person falls.

# %%
from fallkd_lib.data.synthetic import generate_clip_set
from fallkd_lib.runtime.clip_check import CLIPS

clips = generate_clip_set(settings.data_dir / "clips" / PROFILE, **CLIPS, progress=False)  # 2 per scenario
[(c.scenario, c.n_frames, c.events) for c in clips]

# %% [markdown]
# ## 3. Running the pipeline on a clip
#
# `FallPipeline.run` writes, for each source: `events.jsonl` (every state change), `alerts.jsonl` (what was
# sent), `alert_deliveries.jsonl` (which sink got it), `snapshots/` (the annotated frame of each alert), an
# annotated video and `summary.json` with per-stage timings. From a terminal:
# `fallkd detect CLIP.mp4 --detector runs/.../best.pt --classifier runs/.../best.pt --out runs/detect`.
#
# **Weak boxes and confirmed tracks.** A detector is least sure of a person exactly when it matters: lying on
# the ground, foreshortened, half the height of the standing people it mostly saw. The shipped detector draws a
# correct box around a fallen person but scores it 0.1-0.3. Under ultralytics' default tracker settings
# (`bytetrack.yaml`: new tracks only from boxes >= 0.25, the score fused into the matching cost) such a person
# loses their track the moment they fall, and a long lie is never seen. The quick profile therefore takes boxes
# down to `conf = 0.05` and tracks them with `fallkd_bytetrack.yaml` (weak boxes may start and continue tracks,
# matched on IoU alone). Boxes that weak also find clutter: a bin, a bench. The **confirmation** step removes
# it: a track reaches the classifier only after one of its boxes scored at least `confirm_conf` (0.3), and
# stays confirmed while it is seen. A fall is a change: the person was seen clearly, usually upright, before
# going down; a bin was never seen clearly as a person. Trackers often give a person a **new id** exactly when
# they fall (a tall box turns wide and the two no longer overlap enough to match), and the new, lying track may
# never score `confirm_conf`: so a track's first box that overlaps a confirmed track which has just vanished takes
# over its confirmation (the fall state hands it the old track's boxes too, so the fall is still seen). So does a
# track found again after frames unseen: trackers hand a lost id to whatever box turns up near its old place, so an
# id back from being lost is no surer an identity than a new one. Where people cross a wide view,
# `confirm_motion` (off by default) also confirms a weak track once its box has moved that share of its size: people
# move, a chair taken for a person does not. Boxes held back are counted in `summary["unconfirmed_boxes"]`, tracks
# confirmed each way in `summary["confirmed_by"]`. The price: someone found already lying when the camera
# starts, and never detected confidently, is not followed: that needs a separate "found down" rule, with a much
# longer wait.

# %%
from fallkd_lib.runtime.pipeline import FallPipeline

fall_clip = next(c for c in clips if c.scenario == "fall_stay")
pipeline = FallPipeline(detector, classifier, pcfg)
print(f"detector input {pipeline.imgsz} px and crops {pipeline.crop}: both read from the models")
summary = pipeline.run(fall_clip.video, runs / "pipeline" / fall_clip.video.stem, progress=False)
summary

# %% [markdown]
# ## 4. Scoring every clip
#
# One clip proves little. The same pipeline now runs on every clip, and each alert is matched with the truth:
# every person down for `alert_after` after a fall (the crowd's faller and a fall-and-recover included) must
# raise exactly one alert, and sitters and walkers none.

# %%
from fallkd_lib.runtime.clip_check import clip_verdict
from fallkd_lib.runtime.events import event_scores_table, score_pipeline_on_clips

scores = score_pipeline_on_clips(pipeline, clips, runs / "pipeline", save_video=True, progress=False)
print(clip_verdict(scores))
event_scores_table(scores)

# %% [markdown]
# *Recall* is the share of long lies alerted; *delay* the seconds between "down for `alert_after`" and the
# alert (smoothing adds a little); *false alerts per hour* is what wears out the people who answer them, and
# `false_*` says why each false alert was false (`no_person`: nobody there, `not_fallen`: a person who never
# fell, `recovered`: a person who got up in time).
#
# ### Check yourself: when does the alert fire?
#
# The delay in the table comes from the state machine. Work one case through with the camera's own settings
# (`pcfg.state`, printed below). A camera at 2 frames per second follows one person. Until t = 4.0 s the classifier
# says p(fall) = 0.05; from the frame at 4.0 s on, it says 0.95. Each frame moves the smoothed probability
# `1 - exp(-dt / smoothing)` of the way to the new value, and the track turns `down` on the first frame where the
# smoothed value reaches `enter`.
#
# 1. The person **fell**: at 4.0 s the top of their box dropped by 70% of its height. When is the alert raised?
# 2. The person **sat down** on the grass: the top of the box sank slowly, 40% of its height over 4 s, and the
#    classifier mistakes them for fallen. When is the alert raised?
#
# Answer in seconds of the clip. If you would rather simulate than reason, `long_lie_frames(4.0, fall_seen=True)`
# gives the frames as `(time, [(track_id, p_fall, box)])`, ready for `FallTracker(pcfg.state).update(time, ...)`.

# %%
from fallkd_lib.course.exercises import check_alert_time, long_lie_frames

print(pcfg.state)
alert_fell = None  # TODO: your code, seconds
alert_sat = None  # TODO: your code, seconds
ex_alerts = [
    check_alert_time(alert_fell, 4.0, fall_seen=True, state=pcfg.state),
    check_alert_time(alert_sat, 4.0, fall_seen=False, state=pcfg.state),
]

# %% [markdown]
# ### Your own labelled clips
#
# Synthetic clips have exact answers; real footage is what counts. `score_labelled_clips` (from a terminal:
# `fallkd score-clips FOLDER --detector D --classifier C --out OUT`) runs the same camera over a folder of
# videos described by a `labels.csv`, one row per clip: `clip` (its path), `kind` (`fall`, `lying_still` or
# `daily_activity`), `fall_onset_s` and `down_from_s` for falls, and a few descriptive columns (the layout of the
# public ASSIST-IoT clips, 22 real videos of falls, lying still and daily activities). For each clip it reports
# whether it alerted, the delay from the fall's onset and from landing, and the false alerts on daily
# activities; `long_enough` says when a quiet clip simply ended before the wait could pass. Short lying-still
# clips are looped (`loop_seconds`), timestamps continuing, so the slow path's 30 s can pass. Set
# `LABELLED_CLIPS` to such a folder (or the `FALLKD_LABELLED_CLIPS` environment variable). The quick profile's
# models have only seen the synthetic world: expect them to struggle on real footage, and read the table as
# the gap that the full profile's real data must close. On the ASSIST-IoT clips they alert both falls but also 6
# of the 18 daily activities (sitting into a low chair, lying down on purpose: postures they never saw), and once
# a glass door they take for a fallen person. The models of a `fallkd real` run (its detector pretrained on rendered
# scenes with the training set's real people pasted into them) alert both falls within 2 s of landing, both
# lying-still clips at 30 s and none of the 18 daily activities; two more trainings of the same recipe
# (`fallkd real --seed N`) alert both falls within 2 s too (one of them only since a drop while a track is `down`
# counts as its fall, above) and none of the daily activities, but neither lying-still clip. How
# sure a detector trained offline is of a new camera's people varies from run to run: `benchmarks/RESULTS.md` has the
# details. Models
# trained on real images with `fallkd real` come
# with the `fallkd score-clips` command that runs them at their operating point: the detector confidence with
# the best image-level fall F1 on their own validation split (a detector pretrained on rendered people scores
# real ones low, so it is chosen, not assumed).

# %%
import os

from IPython.display import display

from fallkd_lib.runtime.labelled_clips import clip_scores_table, clip_scores_verdict, score_labelled_clips

LABELLED_CLIPS = os.environ.get("FALLKD_LABELLED_CLIPS")  # a folder with labels.csv, or None
if LABELLED_CLIPS:
    real = score_labelled_clips(pipeline, LABELLED_CLIPS, runs / "labelled_clips", loop_seconds=40, progress=False)
    print(clip_scores_verdict(real["summary"]))
    display(clip_scores_table(real))
else:
    print("no labelled folder given: set LABELLED_CLIPS (or FALLKD_LABELLED_CLIPS) to a folder with labels.csv")

# %% [markdown]
# ## 5. One stage at a time
#
# Where do the remaining mistakes come from? Replace one stage at a time by the truth.
#
# **Perfect detector and tracker, our classifier.** The truth's boxes and person ids go into the same
# pipeline; crops, the batched classifier, the state machine and the alerts are the real ones.

# %%
from fallkd_lib.runtime.events import read_event_log, score_clip_set
from fallkd_lib.runtime.oracle import truth_detector, truth_events

results = []
for clip in clips:
    out = runs / "pipeline_truth_boxes" / clip.video.stem
    FallPipeline(truth_detector(clip.truth), classifier, pcfg).run(clip.video, out, save_video=False, progress=False)
    results.append((clip.truth, read_event_log(out)))
event_scores_table(score_clip_set(results, alert_after=pcfg.state.alert_after))

# %% [markdown]
# **Everything perfect but the state machine.** With true labels in, the state machine should alert every long
# lie once, after `alert_after` seconds, and nothing else: this is the ceiling the models are trying to reach.

# %%
ceiling = [(clip.truth, truth_events(clip.truth, pcfg.state)) for clip in clips]
event_scores_table(score_clip_set(ceiling, alert_after=pcfg.state.alert_after))

# %% [markdown]
# ## 6. Detector alone, or detector + classifier?
#
# The report's reason for two models is that a 2-class detector tells `fall` from `normal` worse than a
# classifier looking at the crop. Measured box by box on the test split of the merged data (a fall counts as
# caught when a box overlaps it with IoU >= 0.5 **and** says `fall`):

# %%
from fallkd_lib.detector.evaluate import compare_detection_modes, yolo_ground_truth
from fallkd_lib.detector.modes import predict_modes
from fallkd_lib.runtime.loaders import load_classifier, load_detector

truth_images = yolo_ground_truth(data["merged"], "test", progress=False)
if PROFILE == "quick":
    truth_images = truth_images[:100]  # half the quick test split keeps the course within its 10 minutes
predictions = predict_modes(truth_images, load_detector(fall_normal["best"]), load_detector(detector),
                            load_classifier(classifier), conf=pcfg.conf, progress=False)
modes = compare_detection_modes(predictions)
modes

# %% [markdown]
# ## 7. Watch it
#
# Pick a clip and move through its frames: boxes are green while a person is `normal`, orange while `down`
# (with the seconds counted), red once the alert has been raised.

# %%
from fallkd_lib.viz.video_widget import plot_frames, read_video_frames, video_player

videos = {clip.video.stem: runs / "pipeline" / clip.video.stem / "annotated.mp4" for clip in clips}
plot_frames(read_video_frames(videos[fall_clip.video.stem]), n=6, title="fall_stay: detector, tracker, classifier")

# %%
video_player(videos)

# %% [markdown]
# ## 8. Speed
#
# `summary["stage_ms"]` above gives milliseconds per frame for each stage. `benchmarks/bench_pipeline.py`
# compares, on the same models and frames, fallkd's batched crops with the report's way (a PIL crop, resize
# and classifier call per person, one at a time). On a 2-core laptop CPU, with the mission's YOLOv5s at 640 and
# three people per frame, it teaches three things:
#
# * **On a CPU, batching alone buys little.** A convolution at batch 1 already keeps both cores busy, so one call
#   on three crops in torch is only ~1.5x three calls. ONNX Runtime's fused kernels run the same classifier
#   about 2.5x faster than the report's loop: the crop + classify stage becomes cheap.
# * **The detector is most of the frame.** YOLOv5s at 640 costs ~24 GFLOPs, about as much as 30 EfficientNet-B0
#   crops. The same detector in ONNX Runtime is barely faster than in torch; in **int8** it takes about 40% less
#   time. That is the largest single saving on a CPU, and still the whole pipeline gains only ~1.8x there.
# * **Count your threads.** On the CPU, ultralytics sets torch to `cores - 1` threads for the whole process (it
#   keeps a core for its data loaders): on a 2-core laptop every later torch model ran on one core. fallkd puts
#   the count back after every ultralytics call (`fallkd_lib.settings.keep_torch_threads`).
#
# On a GPU the balance flips: the detector takes a few milliseconds and the report's per-person Python, PIL and
# tiny batch-1 launches dominate, which is where one batched call pays most. On the TX2 the detector runs in
# TensorRT fp16 (notebook 06); int8 is the CPU's way.
#
# **Quantization** stores weights and activations as 8-bit integers with a scale and a zero point,
# `x ~ scale * (q - zero_point)`: a quarter of the memory traffic, and integer arithmetic. The scales of the
# activations come from *calibration*: a few dozen frames from the camera are run through the float model and
# every tensor's range is recorded. One part stays in float: the detector's last step, which joins box corners
# in pixels (0-640) and class probabilities (0-1) in one tensor. A single 8-bit scale for both would round every
# probability to zero. Always check parity before shipping: `fallkd export-det best.pt --out deploy --calib
# CLIP.mp4` prints how many of the float model's boxes the int8 one finds again.

# %%
from pathlib import Path

import pandas as pd

from fallkd_lib.export import detector_speed, export_detector_onnx, quantize_detector_onnx
from fallkd_lib.runtime.sources import iter_frames

crowd = [f.image for f in iter_frames(next(c for c in clips if c.scenario == "crowd").video)]
weights = Path(person["best"])
det_onnx = export_detector_onnx(weights, runs / "deploy" / "detector.onnx")  # at its training size
det_int8 = quantize_detector_onnx(det_onnx, runs / "deploy" / "detector_int8.onnx", crowd[0::4])  # calibration
files = {"torch": weights, "ONNX": det_onnx, "ONNX int8": det_int8}
speed = detector_speed(files, crowd[2::4])  # other frames than the calibration ones
pd.DataFrame({"ms per frame": speed, "file MB": {k: p.stat().st_size / 2**20 for k, p in files.items()}}).round(1)

# %% [markdown]
# At the quick profile's 160 px the detector is small and the int8 gain is modest; at 640 it is 1.5-1.7x. The
# ONNX file shrinks 4x in int8 (the `.pt` checkpoint stores half-precision weights, hence half the ONNX size).
# On a YOLOv5n trained on the synthetic data, the int8 copy found again 98% of the float model's boxes on
# synthetic frames and 90% (precision 0.95) on real photos it was not calibrated on.
#
# ### Exercises
# 1. Set `pcfg = pipeline_config(PROFILE, **{"state.alert_after": 5.0})` and score again: which clips stop
#    alerting, and what does the mean delay do? (From a terminal: `fallkd detect ... --set state.alert_after=5`.)
# 2. Set the smoothing time constant to 0 (`"state.smoothing": 0.0`). What happens to flicker and delay?
# 3. Start a local webhook receiver (`python -m http.server` will not do: it refuses POST; write a 10-line
#    `http.server` handler) and pass `webhook="http://127.0.0.1:8000/alert"` to `run`. Stop the server: does the
#    pipeline keep going, and where is the alert kept?
# 4. Score the clips with `pipeline_config(PROFILE, confirm_conf=None, **{"state.found_down_after": 10.0})`,
#    that is without track confirmation and with the slow path as quick as the fast one. Which false alerts
#    come back, and what are they? (Look at the snapshots in `runs/.../pipeline/<clip>/snapshots/`.) Then set
#    `"state.fall_drop": 0.2` instead: which tracks now count as seen falls?
#
# ## Your results card

# %%
from fallkd_lib.course.cards import results_card

camera = ("clips", "falls_should_alert", "alerted", "recall", "delay_mean", "false_alerts", "false_alerts_per_hour")
results_card(
    "05_pipeline",
    {
        "camera on the clips": {key: scores[key] for key in camera},
        "classifier test accuracy": student["test"]["accuracy"],
        "detector alone vs detector + classifier": modes[["fall_precision", "fall_recall", "fall_f1"]],
        "exercises": {"alert times": all(ex_alerts)},
    },
    profile=PROFILE,
    timings={f"{stage} ms per frame": ms for stage, ms in summary["stage_ms"].items()}
    | {f"detector {way} ms per frame": ms for way, ms in speed.items()},
)
