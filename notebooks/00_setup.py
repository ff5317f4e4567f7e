# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/fallkd/fallkd/blob/main/notebooks/00_setup.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://raw.githubusercontent.com/fallkd/fallkd/main/notebooks/00_setup.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/fallkd/fallkd/main?labpath=notebooks%2F00_setup.ipynb)

# %% [markdown]
# # 00 · Setting up: where am I running, and what do I have?
#
# **fallkd** is a course about finding people who fall, in parks, on pavements, at night, using a camera
# that thinks for itself. The camera carries an NVIDIA **Jetson TX2**, a small board with a 256-core GPU,
# so every model we ship must fit a budget: **at most 13 M parameters and 20-30 GFLOPs** per image.
#
# The system has two stages, and the course follows them in order:
#
# | stage | model | question it answers | notebook |
# |---|---|---|---|
# | 1. detect | YOLOv5s at 640x640 | *where* are the people? | 02 |
# | 2. classify | EfficientNet-B0 distilled from a ViT-B/16 | is this person *fallen* or *normal*? | 03, 04 |
# | then | tracking + a timer | has this person stayed down long enough to call for help? | 05 |
#
# Why two models? A detector is very good at *where*, less good at *which class* when the classes look
# alike; a classifier looking at one tight, well-framed crop is more accurate at the class. The price is
# one extra network call per person, which notebook 05 makes cheap by batching the crops of a frame.
#
# This notebook checks the machine. Run the cells in order.

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

# %% [markdown]
# ## The profile
#
# Every notebook starts with the same parameter. `quick` uses the **embedded synthetic dataset** that fallkd
# renders itself, at small sizes: it runs offline on a laptop CPU in minutes (CI runs every notebook
# this way). `full` uses the reference report's two Roboflow datasets at the report's sizes: it needs
# internet, a Roboflow API key and, for training, a GPU.

# %%
PROFILE = "quick"  # "quick" (synthetic data, small sizes, CPU) or "full" (Roboflow data, report sizes)

# %% [markdown]
# ## Installing
#
# The first code cell of every notebook installs the course when it runs on **Colab** or **Kaggle** (the badges at
# the top open it there), and does nothing anywhere else. It clones the repository, installs `requirements.txt`
# with one `%pip install`, and pins the torch and torchvision the host already has (a pip *constraints* file), so
# the host's own CUDA build is never replaced by a download. On Kaggle, switch *Internet* on in the notebook's
# settings first.
#
# A free Colab session ends when you close the tab or stay idle too long, and everything in it is lost. With
# `USE_DRIVE = True` (the default) the cell mounts your **Google Drive** and keeps `data/` and `runs/` in
# `MyDrive/fallkd`: the next session, or the next notebook, finds the data and resumes training from its last
# checkpoint. On Kaggle, data and runs go to `/kaggle/working` (keep it between sessions with *Persistence: Files*
# in the session options). On a laptop, `make demo` in a terminal creates a virtual environment with everything;
# on Binder the image is already built.

# %%
from fallkd_lib.envcheck import environment_report

report = environment_report()
{key: value for key, value in report.items() if key != "packages"}

# %%
import pandas as pd

pd.DataFrame(sorted(report["packages"].items()), columns=["package", "version"])

# %% [markdown]
# A `missing` line is a package the later notebooks need: install `requirements.txt` again.
# `accelerator: cpu` is fine for the quick profile; training in the full profile wants a GPU
# (Colab: *Runtime > Change runtime type*).

# %% [markdown]
# ## Staying offline on purpose
#
# Deep-learning tools like to reach the network: ultralytics checks for updates, downloads a font on
# every training run and may try to `pip install` what it misses; timm asks the Hugging Face hub for
# weights and retries for a minute when it cannot reach it. In a classroom with bad Wi-Fi, in CI, or on a
# camera in a park, that is a hang, not a feature. fallkd turns these switches on unless you set them
# yourself, and gives ultralytics a settings folder of its own with a local font.

# %%
from fallkd_lib.settings import configure_offline, get_settings, prepare_ultralytics

if PROFILE == "quick":
    print(configure_offline())
print("ultralytics settings and fonts in:", prepare_ultralytics())
get_settings()

# %% [markdown]
# ## Secrets
#
# The full profile downloads data from Roboflow Universe with an API key. **Never paste a key into a
# notebook**: notebooks get shared, exported and graded. Store it as a secret named `ROBOFLOW_API_KEY`
# (Colab: the key icon in the left bar, with notebook access switched on; Kaggle: *Add-ons > Secrets*;
# a laptop: an environment variable). fallkd reads it from there and never prints it; this cell only says
# whether one is available.

# %%
from fallkd_lib.data.sources import has_roboflow_key

print("Roboflow key available:", has_roboflow_key())

# %% [markdown]
# ## Check yourself: the TX2 budget
#
# Each notebook has a few short exercises. Replace `None` with your answer and run the cell: the check says
# whether you are right and, if not, what to look at (it never prints the answer). Left at `None`, it only says
# "not answered yet", so the notebook still runs from top to bottom.
#
# A convolution does the same work at every pixel of its input, so a convolutional network's FLOPs grow with the
# number of pixels it sees. ResNet18 costs **3.63 GFLOPs** on a 224x224 crop (notebook 03 counts it). What would it
# cost on a whole 640x640 frame?

# %%
from fallkd_lib.course.exercises import check_scaled_gflops, check_tx2_verdict

gflops_640 = None  # TODO: your code, one number of GFLOPs
ex_gflops = check_scaled_gflops(gflops_640, gflops=3.63, from_size=224, to_size=640)

# %% [markdown]
# The budget gives each model one of three verdicts: **fits** (at most 13 M parameters and 20 GFLOPs), **tight**
# (20-30 GFLOPs) or **over** (more than 30 GFLOPs, or more than 13 M parameters). What are the verdicts of the
# ViT-B/16 teacher at 224 px (85.8 M parameters, 35.1 GFLOPs) and of the YOLOv5s detector at 640 px (9.12 M
# parameters, 24.0 GFLOPs)?

# %%
vit_verdict = None  # TODO: "fits", "tight" or "over"
yolo_verdict = None  # TODO: "fits", "tight" or "over"
ex_verdicts = [check_tx2_verdict(vit_verdict, 85.8, 35.1), check_tx2_verdict(yolo_verdict, 9.12, 24.0)]

# %% [markdown]
# ## Your results card
#
# Every notebook ends with its **results card**: the notebook's key numbers, the profile and the machine that
# produced them, shown here and saved as a small JSON file in `runs/results/`, so that you can compare runs and an
# instructor can collect them. Next: `01_data`, where we make, merge and check the dataset.

# %%
from fallkd_lib.course.cards import results_card

results_card(
    "00_setup",
    {
        "host": report["host"],
        "accelerator": report["accelerator"],
        "python": report["python"],
        "missing packages": [name for name, version in report["packages"].items() if version == "missing"],
        "exercises": {"GFLOPs at 640": ex_gflops, "TX2 verdicts": all(ex_verdicts)},
    },
    profile=PROFILE,
)
