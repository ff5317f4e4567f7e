# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/fallkd/fallkd/blob/main/notebooks/06_export_tx2.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://raw.githubusercontent.com/fallkd/fallkd/main/notebooks/06_export_tx2.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/fallkd/fallkd/main?labpath=notebooks%2F06_export_tx2.ipynb)

# %% [markdown]
# # 06 · Carrying the camera to a Jetson TX2
#
# The models of notebooks 02-05 run in torch and ultralytics on a laptop. The camera in the park runs on an
# NVIDIA Jetson TX2: a 256-core Pascal GPU sharing 8 GB of memory with six ARM cores, JetPack 4.6 (Ubuntu 18.04,
# **Python 3.6**, CUDA 10.2, **TensorRT 8.2**), and no room for a training framework. This notebook turns the
# trained system into one folder, the **deploy bundle**, that holds everything the device needs and nothing it
# cannot run, and checks that what runs there is what was trained and evaluated here:
#
# 1. **export** both models to ONNX at an opset TensorRT 8.2 can read, and read the opset back;
# 2. check **parity**: the exported files against the torch models on real inputs (trained weights, people in
#    rendered scenes), model by model;
# 3. write `pipeline.json`: every setting of the camera (input size, thresholds, crop geometry, mean/std, the
#    fall state machine) **read from the models**, never restated;
# 4. count the **budget** per model and per frame, with an estimate of the TX2's latency;
# 5. compare **float and int8** here, on a CPU, and say why the TX2 uses fp16 instead;
# 6. run the bundle's own camera, `run_edge.py` (numpy, OpenCV and ONNX Runtime or TensorRT; no torch), on a
#    clip, and list the steps on the device.

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
PROFILE = "quick"  # "quick" (the shipped detector and notebook 04's student, CPU) or "full" (your trained models)

# %%
import shutil

import pandas as pd

from fallkd_lib.config import pipeline_config, train_config
from fallkd_lib.data.stage import run_data_stage
from fallkd_lib.settings import configure_offline, get_settings

if PROFILE == "quick":
    configure_offline()
settings = get_settings()
data_dir = settings.data_dir / ("course" if PROFILE == "quick" else "course_full")
if not (data_dir / "crops" / "report.json").is_file():  # notebook 01's data, made here only when it is missing
    run_data_stage(PROFILE, data_dir, progress=False)
crops_dir, runs = data_dir / "crops", settings.runs_dir / "course" / PROFILE
tcfg, pcfg = train_config(PROFILE), pipeline_config(PROFILE)
bundle = runs / "deploy_tx2"

# %% [markdown]
# ## 1. The two models
#
# The same as notebook 05's camera: in the quick profile, the person detector that ships with fallkd (a YOLOv5n
# at 320 px trained on the synthetic world, an ONNX file) and the distilled EfficientNet-B0 of notebook 04; in
# the full profile, your detector of notebook 02. The calls reuse finished runs and train what is missing.

# %%
from fallkd_lib.runtime.loaders import shipped_detector
from fallkd_lib.train.recipes import cache_teacher, distill, train_teacher

if PROFILE == "full":
    from fallkd_lib.config import detect_config
    from fallkd_lib.detector.dataset import detector_dataset
    from fallkd_lib.detector.train import train_detector

    person_yaml = detector_dataset(data_dir / "merged", runs / "detector" / "data_person", "person")
    detector = train_detector(person_yaml, detect_config(PROFILE), out_dir=runs / "detector", name="person",
                              plots=False, resume="auto")["best"]
else:
    detector = shipped_detector()
classifier = runs / "efficientnet_b0_kd_cached"
if not (classifier / "metrics.json").is_file():  # notebook 04's student, trained here only when it is missing
    train_teacher(crops_dir, runs / "teacher", tcfg, progress=False)
    cache_teacher(runs / "teacher", crops_dir, tcfg, progress=False)
    distill(crops_dir, classifier, tcfg, runs / "teacher", "cached", progress=False)
print("detector:", detector, "| classifier:", classifier)

# %% [markdown]
# ## 2. Opsets: which ONNX a TensorRT can read
#
# An ONNX file is a graph of operators (`Conv`, `Resize`, `Reshape`...) from a versioned **operator set**, the
# *opset*. Each opset may add an operator or change one's inputs and attributes (opset 14 gave `Reshape` an
# `allowzero` attribute; opset 18 changed `Resize`). A file declares its opset, and a runtime reads the opsets
# it was written for, up to a limit. The TX2's last JetPack, 4.6, ships **TensorRT 8.2**, whose ONNX parser
# reads opsets up to **13**. ultralytics writes its exports at a recent opset (the shipped detector is at 18),
# so a file that runs in ONNX Runtime on the laptop can stop TensorRT on the device with "unsupported opset".
#
# `fallkd export` writes both models at opset 13 (the classifier through torch's TorchScript exporter, which
# honours the opset it is asked for; the detector re-exported from its `.pt`, or, for an ONNX file,
# *lowered*: an operator whose opset-13 form computes the same thing is rewritten, anything else is a clear
# error), then **reads the opset back from the written file** and stops if it is above 13. Parity, next, checks
# the numbers of the lowered graph.

# %%
from fallkd_lib.edge.onnx_info import onnx_opset

print("the shipped detector was written at opset", onnx_opset(detector) if str(detector).endswith(".onnx") else "(a .pt)")

# %% [markdown]
# ## 3. The bundle
#
# One call writes the folder (from a terminal: `fallkd export --detector D --classifier C --out deploy/
# --calib CLIP.mp4`). It is written into a temporary folder beside `out` and renamed into place only when every
# check passed, so a failed export leaves nothing half-done; it refuses a folder that already holds an export,
# so the notebook removes the previous one first. `--calib` gives frames of the camera: they calibrate the
# optional int8 engine and join the rendered scenes of the parity check.

# %%
from fallkd_lib.data.synthetic import generate_clip_set
from fallkd_lib.export.bundle import export_bundle
from fallkd_lib.runtime.clip_check import CLIPS

clips = generate_clip_set(settings.data_dir / "clips" / PROFILE, **CLIPS, progress=False)  # notebook 05's clips
crowd = next(c for c in clips if c.scenario == "crowd").video
shutil.rmtree(bundle, ignore_errors=True)
report = export_bundle(detector, classifier, bundle, calib=crowd, config=pcfg, calib_frames=16)
pd.DataFrame({"opset (read back)": report["parity"]["opsets"]})

# %% [markdown]
# **Parity, model by model.** The classifier is compared on the people of the parity frames, cut and normalised
# as the camera does: the largest logit difference and how often both pick the same class. The detector is
# compared box by box: ultralytics on the original model against the bundle's own numpy decoding (letterbox,
# YOLO output, NMS) on the exported file; recall is the share of the original's boxes found again, precision
# the share of the export's boxes the original also has. Beyond the tolerance the export stops with an error.

# %%
parity = report["parity"]
checks = {"classifier": ["crops", "max_abs_logit_diff", "top1_agreement"],
          "detector": ["frames", "reference_boxes", "recall", "precision", "mean_iou"]}
pd.DataFrame([(m, k, parity[m][k], parity["tolerance"].get(k, "")) for m, keys in checks.items() for k in keys],
             columns=["model", "check", "value", "tolerance"]).set_index(["model", "check"])

# %% [markdown]
# **What the camera is told.** `pipeline.json` holds every setting `run_edge.py` uses. None is typed in twice:
# the crop size, padding and mean/std come from the classifier's checkpoint (what it was trained on), the input
# size from the detector file, thresholds and the fall state machine from the `PipelineConfig`. On the device
# the bundle tracks people with fallkd's small IoU tracker (ultralytics' ByteTrack is not shipped); `fallkd
# detect ... --set tracker=iou` shows on this machine exactly what the bundle does.

# %%
pipeline = report["pipeline"]
{"detector": {k: pipeline["detector"][k] for k in ("input_size", "conf", "iou")},
 "classifier": {k: pipeline["classifier"][k] for k in ("model", "crop", "image_size", "fall_index", "max_batch")},
 "state": {k: pipeline["state"][k] for k in ("alert_after", "found_down_after", "cooldown")}}

# %% [markdown]
# ## 4. The TX2 budget
#
# The mission's budget is per model: at most **13 M parameters** and **20-30 GFLOPs** (notebook 02). A frame
# costs the detector once plus the classifier once per person: three people are three crops in one batched call.
# The FLOPs are counted on the exported graphs (what runs), 2 x multiply-accumulates of every convolution and
# matrix product.
#
# **The latency is an estimate, not a measurement.** The TX2's GPU peaks at 1.33 TFLOPS in fp16 (NVIDIA's module
# data sheet); small convolution networks at batch 1-8 keep a GPU far from its peak, so the estimate assumes 25%
# of it. It is an order of magnitude to plan with; `trtexec` prints the engines' real latency on the device.

# %%
from fallkd_lib.export.budget import budget_table

print(budget_table(report["budget"]))

# %% [markdown]
# ### Check yourself: people per frame
#
# A frame costs the detector once and the classifier once per person. With the two models' GFLOPs from the table
# above, how many people can the camera classify in one frame before the frame passes the budget's *fits* line,
# 20 GFLOPs?

# %%
from fallkd_lib.course.exercises import check_crops_per_frame

costs = report["budget"]["models"]
print({name: round(cost["gflops"], 4) for name, cost in costs.items()})
people_per_frame = None  # TODO: your code, a whole number
ex_people = check_crops_per_frame(people_per_frame, costs["detector"]["gflops"], costs["classifier"]["gflops"])

# %% [markdown]
# ## 5. Float or int8?
#
# **Quantization** stores weights and activations as 8-bit integers with a scale, `x ~ scale * (q - zero)`
# (notebook 05 did it for the detector). On a CPU with fast 8-bit dot products (x86 VNNI, ARM dot-product
# instructions) it cuts memory traffic by 4 and often time by 1.5-3x, for a small change in the outputs that must
# be measured. Here, the student classifier in torch, in ONNX Runtime and in int8 (calibrated on 64 train crops),
# all scored on the same **validation** crops, normalised once, so a difference is the export's:

# %%
from fallkd_lib.export import compare_classifiers, quantize_classifier_onnx, read_crop_split
from fallkd_lib.runtime.classifier import TorchClassifier
from fallkd_lib.runtime.loaders import load_classifier

calib_crops = read_crop_split(crops_dir, "train", limit=64)[0]
int8_path = quantize_classifier_onnx(bundle / "classifier.onnx", runs / "deploy_int8" / "classifier_int8.onnx", calib_crops)
crops, labels, classes = read_crop_split(crops_dir, "val")
models = {
    "torch": TorchClassifier.from_checkpoint(classifier / "best.pt", "cpu"),
    "ONNX fp32": load_classifier(bundle / "classifier.onnx"),
    "ONNX int8": load_classifier(int8_path),
}
print(len(crops), "validation crops; ms per call for 1, 3 and 8 people")
compare_classifiers(models, crops, labels, classes, repeats=5).round(4)

# %% [markdown]
# Read two things: the accuracy and fall recall of int8 against the float rows (`agreement` is the share of crops
# on which int8 picks the float model's class), and the milliseconds. ONNX Runtime's fused kernels are the first
# saving over torch; int8 adds less, because this student is tiny at 48 px (0.05 GFLOPs a crop) and a call is
# mostly fixed costs. On the detector, and at the full profile's 224 px, int8 is the CPU's biggest saving
# (notebook 05, `benchmarks/bench_export.py`).
#
# **On the TX2, fp16, not int8.** TensorRT runs a layer in int8 only where the GPU has fast 8-bit arithmetic:
# the DP4A dot-product instruction (Pascal cards of compute capability 6.1, e.g. the GTX 1080) or int8 tensor
# cores (Turing and later; Volta-based Xavier boards). The TX2's Pascal GPU is compute capability **6.2** and has
# neither: TensorRT's `platformHasFastInt8()` is false on it, cuDNN's int8 convolutions stop with "this GPU
# doesn't support DP4A", and NVIDIA's Jetson team answers that the TX2 does not support int8 (GitHub issues
# `wang-xinyu/tensorrtx#831`, `AlexeyAB/yolo2_light#26`, `dusty-nv/jetson-inference#111`). What the TX2 does have is **fast fp16**: twice its fp32 rate (1.33 vs 0.67 TFLOPS). So
# `build_engines.sh` builds fp16 engines; fp16 keeps 10 bits of mantissa, enough for a network trained in
# fp32, and needs no calibration. The bundle still carries an int8 calibration cache (`detector_calib.cache`,
# `FALLKD_INT8=1 bash build_engines.sh`) for an Xavier or Orin board.
#
# ## 6. What is in the folder

# %%
files = sorted(p for p in bundle.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
pd.DataFrame({"KiB": [round(p.stat().st_size / 1024, 1) for p in files]}, index=[str(p.relative_to(bundle)) for p in files])

# %% [markdown]
# `run_edge.py` and `fallkd_edge/` are the camera: a copy of `fallkd_lib/edge`, which the host's pipeline also
# uses for its fall state machine, IoU tracker and crop geometry, so the device runs the tested code, not a
# rewrite. It is Python 3.6 (the tests check it with `vermin`) and imports numpy, OpenCV and either ONNX Runtime or
# TensorRT; no torch, no ultralytics. The tests also run it in an interpreter where torch cannot be imported, and
# compare it, event for event, with `fallkd detect` on the torch models.
#
# ## 7. The bundle's camera, here
#
# Anywhere ONNX Runtime is installed, the bundle runs as it will on the device, in its own process. A clip in
# which a person falls and stays down:

# %%
import json
import subprocess
import sys

fall_clip = next(c for c in clips if c.scenario == "fall_stay").video
edge_out = runs / "edge_run"
shutil.rmtree(edge_out, ignore_errors=True)
done = subprocess.run([sys.executable, str(bundle / "run_edge.py"), "--source", str(fall_clip), "--out", str(edge_out),
                       "--backend", "onnxruntime"], capture_output=True, text=True, check=True)
print(done.stdout)
summary = json.loads((edge_out / "summary.json").read_text())
{k: summary[k] for k in ("frames", "fps", "stage_ms", "events", "alerts")}

# %%
alerts = [json.loads(line) for line in (edge_out / "alerts.jsonl").read_text().splitlines()] if summary["alerts"] else []
pd.DataFrame(alerts, columns=["source_time", "track_id", "fall_seen", "seconds_down", "probability", "snapshot"])

# %% [markdown]
# The alert comes `alert_after` seconds after the fall, as in notebook 05 (`fall_seen`: the fast path);
# `events.jsonl`, `alerts.jsonl` and `alert_deliveries.jsonl` have the same layout as `fallkd detect`'s. `--webhook URL` adds the HTTP alert (in a
# background thread: a failing webhook never stops the camera, and every alert stays in the log;
# `benchmarks/soak_edge.py` runs the bundle for ten minutes against a webhook that fails 30% of the time).
#
# ## 8. On the device
#
# Copy the folder to the TX2 (`scp -r deploy_tx2 nvidia@tx2:`), then:
#
# ```bash
# sudo nvpmodel -m 0        # MAXN: all six CPU cores and the highest GPU clock
# sudo jetson_clocks        # pin the clocks at their maximum (no ramp-up delay on the first frames)
# bash build_engines.sh     # detector.engine + classifier.engine, fp16, a few minutes
# python3 run_edge.py --backend tensorrt --source 0 --out alerts/   # camera 0; or a video file, a folder
# ```
#
# **Why the engines are built there.** A TensorRT engine is not a model file but a compiled plan: for every
# layer, the kernel that was fastest when it was timed on *that* GPU, with *that* TensorRT version and memory.
# It does not load on another GPU or another TensorRT (not even 8.2 vs 8.4). The portable file is the ONNX;
# the engine is built where it runs. `build_engines.sh` checks the opsets first, then calls `trtexec` with fp16,
# and gives the classifier a batch range (1 to 8 people) so one engine serves every frame. `trtexec` prints each
# engine's measured latency: compare it with the estimate of section 4.

# %%
print((bundle / "build_engines.sh").read_text())

# %% [markdown]
# ### Exercises
# 1. Export with `pipeline_config(PROFILE, **{"state.alert_after": 5.0})` and read `pipeline.json`: what changed,
#    and what did not?
# 2. Try to export the shipped detector without lowering: `onnx.checker` accepts it, so what would stop it on the
#    TX2? (Hint: `python -m fallkd_lib.edge.onnx_info fallkd_lib/assets/person_detector_320.onnx --max-opset 13`.)
# 3. Quantize the classifier with `reduce_range=False` (8-bit weights) and compare its accuracy and agreement with
#    the 7-bit default. Which would you ship on a CPU without VNNI?
# 4. From the budget table: how many people per frame can the TX2 classify before the estimated latency passes
#    100 ms (a 10 fps camera)? Which limit comes first, the GFLOPs or the time?
# 5. Run `benchmarks/bench_export.py`: is the second stage nearly free on this CPU, as the issue asks (a frame with
#    three people at most 1.25x the detector alone)?
#
# ## Your results card

# %%
from fallkd_lib.course.cards import results_card

results_card(
    "06_export_tx2",
    {
        "parity": {model: {key: parity[model][key] for key in keys} for model, keys in checks.items()},
        "edge camera": {key: summary[key] for key in ("frames", "fps", "alerts")},
        "exercises": {"people per frame": ex_people},
    },
    profile=PROFILE,
    budgets=report["budget"]["models"] | report["budget"]["per_frame"],
    timings={f"edge {stage} ms per frame": ms for stage, ms in summary["stage_ms"].items()},
)
