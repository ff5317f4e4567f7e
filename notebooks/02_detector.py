# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/fallkd/fallkd/blob/main/notebooks/02_detector.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://raw.githubusercontent.com/fallkd/fallkd/main/notebooks/02_detector.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/fallkd/fallkd/main?labpath=notebooks%2F02_detector.ipynb)

# %% [markdown]
# # 02 · The detector: finding people with YOLOv5s
#
# Stage one of the camera's pipeline answers *where are the people?* in every 640x640 frame. The answer
# must be fast (several frames a second on the TX2) and must rarely miss a person: a person the detector
# misses is never classified, whatever the classifier could have done.
#
# **YOLO** ("you only look once") predicts all boxes of an image in a single forward pass. YOLOv5s has
# three parts:
#
# * a **backbone** (CSPDarknet53) of convolutions with cross-stage partial connections, which split each
#   stage's channels so that half skip the heavy blocks: fewer FLOPs, better gradient flow;
# * a **neck**: SPPF pools the deepest features at several window sizes (context at several scales), and a
#   PANet mixes features top-down and bottom-up, so that small (far) and large (near) people are both seen;
# * a **head** that predicts, at three scales, boxes, an objectness score and class scores, followed by
#   non-maximum suppression, which keeps the best of overlapping boxes.

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
PROFILE = "quick"  # "quick" (synthetic data, 160 px, 2 epochs from scratch on 5% of it, CPU) or "full" (Roboflow, 640 px, 50 epochs, GPU)

# %%
# %matplotlib inline
from fallkd_lib.config import detect_config
from fallkd_lib.data.stage import run_data_stage
from fallkd_lib.settings import configure_offline, get_settings

if PROFILE == "quick":
    configure_offline()
cfg = detect_config(PROFILE)
settings = get_settings()
data = run_data_stage(PROFILE, settings.data_dir / ("course" if PROFILE == "quick" else "course_full"), progress=False)
runs = settings.runs_dir / "course" / PROFILE / "detector"
cfg

# %% [markdown]
# ## 1. Which YOLOv5s?
#
# The `ultralytics` package builds `yolov5s.yaml` as **YOLOv5su**, not the original YOLOv5s of the report:

# %%
from fallkd_lib.detector.train import YOLOV5U_NOTE

print(YOLOV5U_NOTE)

# %% [markdown]
# ## 2. Two ways to use a detector
#
# * **Person detector** (the two-stage pipeline): every box is one class, `person`; the classifier of
#   notebooks 03-04 then decides `fall` or `normal` on the crop.
# * **Fall/normal detector** (the report's first stage, used alone): the detector itself predicts
#   `fall` or `normal` for each box.
#
# Both are made from the merged dataset of notebook 01 without copying images: the labels are rewritten,
# the images linked.

# %%
from fallkd_lib.detector.dataset import detector_dataset, detector_dataset_info

person_yaml = detector_dataset(data["merged"], runs / "data_person", mode="person")
fall_yaml = detector_dataset(data["merged"], runs / "data_fall_normal", mode="fall_normal")
detector_dataset_info(person_yaml)

# %% [markdown]
# ## 3. Training
#
# The reference recipe: 640 px, batch 8, 50 epochs, starting from COCO-pretrained weights (`yolov5su.pt`,
# downloaded when online). The quick profile trains from scratch for two epochs at 160 px on a twentieth of the
# train images (`DetectConfig.fraction`) and scores the valid split only after the last epoch (`val=False`;
# ultralytics validates after every epoch by default, which on a CPU costs as much as the training), which is
# enough to run every step but not to detect well: expect a mAP near zero. A detector from scratch needs far
# more: the person detector that ships with fallkd (and that notebook 05 puts in the camera) is a YOLOv5n
# trained the same way for 35 epochs on 1,000 synthetic scenes at 320 px, an hour of CPU (`python scripts/build_shipped_detector.py`; its model card is
# `fallkd_lib/assets/person_detector_320.md`). ultralytics prints its own progress; an interrupted run continues
# with `resume=True`.

# %%
from fallkd_lib.detector.train import train_detector

person = train_detector(person_yaml, cfg, out_dir=runs, name="person", plots=PROFILE == "full", resume="auto")
fall_normal = train_detector(fall_yaml, cfg, out_dir=runs, name="fall_normal", plots=PROFILE == "full", resume="auto")

# %%
import pandas as pd

pd.DataFrame(
    {
        name: {"mAP50": r["mAP50"], "mAP50-95": r["mAP50-95"], "precision": r["precision"], "recall": r["recall"],
               "epochs": r["epochs_run"], "seconds": r["seconds"]}
        for name, r in {"person detector": person, "fall/normal detector": fall_normal}.items()
    }
).T

# %% [markdown]
# **mAP50** is the area under the precision-recall curve of each class, a box counting as found when it
# overlaps the true box with IoU >= 0.5, averaged over classes; **mAP50-95** averages it over IoU thresholds
# 0.5 to 0.95 (it rewards tight boxes). Per class, for the fall/normal detector:

# %%
pd.DataFrame(fall_normal["per_class"]).T

# %% [markdown]
# ### Check yourself: IoU
#
# mAP50 counts a predicted box as a find when its **IoU** with a true box is at least 0.5: the area of the two
# boxes' overlap divided by the area of their union. A true person box `(50, 50, 150, 250)` and a prediction
# `(100, 100, 200, 300)` (x1, y1, x2, y2 in pixels): what is their IoU? Does the prediction count for mAP50?

# %%
from fallkd_lib.course.exercises import check_iou

iou = None  # TODO: your code, a number between 0 and 1
ex_iou = check_iou(iou, (50, 50, 150, 250), (100, 100, 200, 300))

# %% [markdown]
# ## 4. The budget at the deployment size

# %%
import torch

from fallkd_lib.models import model_budget
from fallkd_lib.settings import import_ultralytics

yolo = import_ultralytics().YOLO(cfg.model).model
det_budget = {size: model_budget(yolo, size) for size in (320, 512, 640)}
pd.DataFrame(det_budget).T[["params_m", "gflops", "verdict"]]

# %% [markdown]
# ## 5. Looking at detections

# %%
from fallkd_lib.runtime.detector import detect_people
from fallkd_lib.runtime.loaders import detector_input_size, load_detector
from fallkd_lib.viz.data_plots import plot_sample_grid

detector = load_detector(person["best"])
print("trained at", detector_input_size(detector), "px: every later call runs it at that size unless told otherwise")
plot_sample_grid(data["merged"], n=4, seed=2, split="test")

# %% [markdown]
# The person detector's boxes on the same kind of images (score >= 0.25; in the quick profile there may be
# none at all):

# %%
import numpy as np

from fallkd_lib.data.imageio import open_rgb
from fallkd_lib.data.yolo import list_images

frames = [np.asarray(open_rgb(p)) for p in list_images(f"{data['merged']}/test/images")[:4]]
[len(boxes) for boxes in detect_people(detector, frames)]

# %% [markdown]
# The same from a terminal is a single ultralytics call; fallkd adds the offline switches and the dataset
# conversion. Next, notebook 03 trains the classifier that looks at each person the detector finds.
#
# ### Exercises
# 1. Train the person detector at 320 px for 10 epochs (`detect_config(PROFILE, imgsz=320, epochs=10)`).
#    How does mAP50 move, and how long does an epoch take?
# 2. From the budget table: at which input size does YOLOv5su fit the TX2's 20 GFLOPs?
#
# ## Your results card

# %%
from fallkd_lib.course.cards import results_card

results_card(
    "02_detector",
    {
        name: {key: r[key] for key in ("mAP50", "mAP50-95", "precision", "recall", "epochs_run")}
        for name, r in {"person detector": person, "fall/normal detector": fall_normal}.items()
    }
    | {"exercises": {"IoU": ex_iou}},
    profile=PROFILE,
    budgets={f"{cfg.model} at {size}": {k: b[k] for k in ("params_m", "gflops", "verdict")} for size, b in det_budget.items()},
    timings={"person detector s": person["seconds"], "fall/normal detector s": fall_normal["seconds"]},
)
