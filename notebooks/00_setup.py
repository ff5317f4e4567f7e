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
# On Colab or Kaggle, clone the repository and install its requirements in a cell:
#
# ```
# !git clone <repository url> fallkd
# %cd fallkd
# !pip install -q -r requirements.txt
# ```
#
# `requirements.txt` gives torch and torchvision as lower bounds only, so the host's own CUDA build is
# kept. On a laptop, `make demo` in a terminal creates a virtual environment with everything.

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
# Next: `01_data`, where we make, merge and check the dataset.
