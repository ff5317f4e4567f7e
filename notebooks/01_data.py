# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/fallkd/fallkd/blob/main/notebooks/01_data.ipynb) [![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://raw.githubusercontent.com/fallkd/fallkd/main/notebooks/01_data.ipynb) [![Launch Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/fallkd/fallkd/main?labpath=notebooks%2F01_data.ipynb)

# %% [markdown]
# # 01 · Data: one clean `fall` / `normal` dataset from two messy sources
#
# A model is only as honest as its data. The reference report trained on about 30,000 images from two
# Roboflow Universe projects and reached 98% validation accuracy, but it never checked three things this
# notebook checks:
#
# 1. **Do the two sources mean the same thing by their class names?** One says `Fall-Detected`, the other
#    `fallen`; one has a `person` class, another `standing`, `sitting` and `walking`. We map every name to
#    `fall` or `normal` through one documented table, and refuse names we do not know.
# 2. **Is every label valid?** A label line is `class cx cy w h` with coordinates in [0, 1]. Exports carry
#    broken lines, corrupt images and boxes of classes that are not people (`bed`, `wheelchair`). Every
#    one is skipped, counted and listed, never silently dropped.
# 3. **Is the validation set really unseen?** Fall datasets are cut from videos: neighbouring frames are
#    near-identical. If frame 100 is in train and frame 101 in validation, the model is graded on
#    pictures it has practically memorised, and accuracy is inflated. We remove duplicates across sources
#    and keep near-duplicates in one **group** that never straddles train / valid / test.
#
# Then we cut **person crops** for the classifiers of notebooks 03-04.

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
PROFILE = "quick"  # "quick" (synthetic data, small sizes, CPU) or "full" (Roboflow data, report sizes)

# %%
# %matplotlib inline
from pathlib import Path

from fallkd_lib.config import data_config
from fallkd_lib.settings import configure_offline, get_settings

if PROFILE == "quick":
    configure_offline()
cfg = data_config(PROFILE)
work = get_settings().data_dir / ("course" if PROFILE == "quick" else "course_full")
cfg

# %% [markdown]
# ## 1. The sources
#
# ### The YOLO export layout
# Roboflow exports, ultralytics and fallkd all use one layout: `train/`, `valid/` and `test/` folders,
# each with `images/` and `labels/`; one text file per image with one line per box,
# `class cx cy w h`, where the centre and size are **fractions** of the image width and height; and a
# `data.yaml` that names the classes. A picture with no label file is a *background* image: no person.
#
# ### The embedded default: people we render ourselves
# The course must run anywhere, offline, in minutes, so fallkd ships a **generator** instead of a
# download. It draws articulated figures (head, torso, two-part arms and legs with joint angles) in
# outdoor scenes (sky, ground, paths, benches, trees; day and night; blur and JPEG noise) and writes
# them in the export layout above. Two *styles* play the two Roboflow projects: `park` (eye-level
# photos) and `cctv` (a high, grainy surveillance view), each with **its own class names**, so that
# merging and remapping are real work. The postures are chosen so that no single trivial cue gives the
# answer away: people sit and crouch (short, wide boxes) but are `normal`; people lie towards the camera
# (tall boxes) but are `fall`.
#
# In the `full` profile the same cell downloads the report's two Roboflow datasets instead (internet and
# a `ROBOFLOW_API_KEY` secret needed; see notebook 00).

# %%
from fallkd_lib.data.stage import prepare_sources

sources = prepare_sources(PROFILE, work)
sources

# %%
from fallkd_lib.data.yolo import read_class_names

{name: read_class_names(path / "data.yaml") for name, path in sources}

# %%
from fallkd_lib.viz.data_plots import plot_sample_grid

plot_sample_grid(sources[0][1], n=8, seed=0)

# %%
plot_sample_grid(sources[1][1], n=8, seed=0)

# %% [markdown]
# ### A third style, indoors
# Falls happen mostly at home and in care rooms, and there the hard cases are not people at all: a bed, an
# office chair, a coat on a door, a picture on the wall. And a person lying down is not always a fall: lying
# **in bed** is normal (the hospital set labels it `lie`). The generator has an indoor style, `room`, for this: a
# floor and walls seen from a high corner, with doors, windows, curtains, pictures and coats on the walls, beds
# (often with someone in them), chairs, cabinets and tables, by day, at night and in infrared. Its class names
# are `fall`, `lie`, `sit` and `stand`. The course's quick profile keeps the two outdoor styles (so that the
# course stays a few minutes long); `fallkd real` pretrains its detector and classifiers on all three
# (`fallkd synth --style room` renders it alone).

# %%
from fallkd_lib.data.synthetic import generate_dataset

room = work / "synthetic_room"
generate_dataset(room, 8, seed=0, style="room", size=320, progress=False)
plot_sample_grid(room, n=8, seed=0)

# %% [markdown]
# ## 2. One vocabulary: remapping class names
#
# The table below is fallkd's default mapping (`fallkd_lib/data/classmap.py`). Names are compared after
# folding case and separators, so `Fall-Detected`, `fall_detected` and `fall detected` are one name.
# `drop` removes boxes that are not people (or that we choose not to judge, like the hospital set's
# `danger`, a person losing balance). Two names are special: `person` and `patient` are **identity**
# boxes in datasets that draw a second, *posture* box over the same human; there, the posture box
# carries the label and the identity box is removed as redundant.

# %%
import pandas as pd

from fallkd_lib.data.classmap import DEFAULT_CLASS_MAP, UnknownClassError, resolve_class_map

table = pd.DataFrame(DEFAULT_CLASS_MAP.items(), columns=["name", "maps to"])
table.groupby("maps to")["name"].apply(", ".join).to_frame("names (after folding case and separators)")

# %% [markdown]
# A name the table does not know stops the merge, with the fix in the message. Here a made-up export
# uses `lying`, which could be a fall or a person resting on a bench: only you can decide.

# %%
try:
    resolve_class_map(["Fall-Detected", "lying", "person"], source="my_export")
except UnknownClassError as err:
    print(err)

resolve_class_map(["Fall-Detected", "lying", "person"], overrides={"lying": "fall"}, source="my_export")

# %% [markdown]
# ## 3. Validation: what a broken export looks like
#
# Real exports are messy. To see what the merge does with a mess, we copy the first source and break it
# on purpose: one bad label line of each kind and a truncated JPEG (a download cut short).

# %%
from fallkd_lib.data.faults import copy_with_faults

broken = work / "broken_copy"
faults = copy_with_faults(sources[0][1], broken)
faults

# %% [markdown]
# ## 4. Merging: remap, validate, deduplicate, split by group
#
# `merge_datasets` pools every split of every source, then:
#
# * validates every label line and decodes every image fully (a truncated file fails here, not in the
#   middle of training);
# * hashes every image twice: a **content hash** (SHA-256 of the bytes) finds exact copies, a
#   **perceptual hash** (pHash: a 64-bit fingerprint of the image's low frequencies) finds the same
#   picture re-encoded, resized or slightly brightened. Two pictures whose hashes differ in at most
#   `near_duplicate_distance` bits are "the same photo";
# * removes exact duplicates everywhere and near-duplicates *across* sources; near-duplicates *within* a
#   source (video frames) stay, but are joined into one group;
# * splits **groups**, not images, 70 / 15 / 15, keeping the share of `fall` images alike in every split
#   (a *stratified, grouped* split).

# %%
from fallkd_lib.data.merge import merge_datasets

merge_sources = [*sources, ("broken_copy", broken)]
report = merge_datasets(
    merge_sources,
    work / "merged",
    split=cfg.split,
    seed=cfg.seed,
    near_duplicate_distance=cfg.near_duplicate_distance,
)
print(report.summary())

# %% [markdown]
# The broken copy holds the same image files as the first source, so its images are removed as *exact
# duplicates* (the first source keeps its copies) and nothing leaks into the merged set twice. Its faults
# are found and listed all the same: every dropped item is in `report.json` with its kind, file, line and
# reason.

# %%
dropped = pd.DataFrame(report.to_dict()["dropped"])
dropped.groupby(["source", "kind"]).size().to_frame("count")

# %%
faulty = dropped[dropped["kind"].isin(["bad_label_line", "unreadable_image"])]
faulty.assign(file=faulty["file"].map(lambda f: Path(f).name))[["kind", "file", "line", "reason"]]

# %% [markdown]
# **Check the split for leakage.** Every group lies in exactly one split:

# %%
manifest = pd.read_csv(work / "merged" / "manifest.csv")
splits_per_group = manifest.groupby("group")["split"].nunique()
print("groups:", len(splits_per_group), "| groups in more than one split:", int((splits_per_group > 1).sum()))
pd.crosstab(manifest["split"], manifest["label"], margins=True)

# %% [markdown]
# ## 5. Looking at the merged data
#
# Class balance per split and per source, then the geometry of the boxes. The second plot is why we
# train a classifier at all: if the **aspect ratio** of a box (width / height) separated falls from
# normal postures, a one-line rule would do. It does not: sitting and crouching people are wide, people
# lying towards the camera are tall.

# %%
from fallkd_lib.data.stats import best_aspect_threshold, box_table, class_balance
from fallkd_lib.viz.data_plots import plot_box_geometry, plot_class_balance

boxes = box_table(work / "merged")
class_balance(boxes)

# %%
plot_class_balance(boxes)

# %%
threshold, accuracy = best_aspect_threshold(boxes)
print(f"best one-line rule on w/h (threshold {threshold:.2f}): balanced accuracy {accuracy:.1%} over {len(boxes)} boxes")
plot_box_geometry(boxes)

# %%
plot_sample_grid(work / "merged", n=12, seed=1)

# %% [markdown]
# ## 6. Person crops for the classifier
#
# The classifier of notebooks 03-04 sees one person at a time, at 224x224 in the reference recipe
# (smaller in the quick profile). Two choices matter:
#
# * **Context padding** (`pad = 0.1`: 10% of the box width added left and right, 10% of its height above
#   and below). A fall is partly told by the surroundings (the ground under a body), and detector boxes
#   at run time are never pixel-perfect; a little context makes the classifier robust to both.
# * **Letterboxing, not stretching.** A lying person's box is wide, a standing one's tall. Stretching both
#   to a square would distort exactly the shape cue we want the network to read, so we scale the longer
#   side to 224 and fill the rest with grey, as the detector does with its frames.
#
# Both choices are one `CropSpec` (size, pad, fill). The crop folder records it in `crop_params.json`,
# training stores it inside the classifier (as timm stores a model's mean and std in its `pretrained_cfg`), and
# the camera pipeline of notebook 05 reads it back from the model and cuts with the very same function: what
# you trained on is what runs, and a pipeline asked to crop differently from its model refuses.
#
# Crops land in the `ImageFolder` layout that torchvision reads: `train|val|test/{fall,normal}/`.

# %%
from fallkd_lib.data.crops import extract_crops
from fallkd_lib.viz.data_plots import plot_crop_grid

crops = extract_crops(work / "merged", work / "crops", cfg.crop_spec())
print(crops.summary())

# %%
plot_crop_grid(work / "crops", n=16, seed=0)

# %% [markdown]
# ### Check yourself: cutting a crop by hand
#
# The camera of notebook 05 cuts every person exactly as `extract_crops` just did. Do it once yourself. A detector
# finds a person lying at the bottom left of a 640x480 frame, box `(x1, y1, x2, y2) = (20, 300, 120, 470)`. With
# `pad = 0.1`, which pixels does the crop cut? Padding is a fraction of the box's own width (added left and right)
# and height (added above and below); edges are rounded *outward* to whole pixels, and the crop stays inside the
# frame. Answer `(left, top, right, bottom)`.

# %%
from fallkd_lib.course.exercises import check_letterbox_size, check_padded_box

crop_box = None  # TODO: your code, (left, top, right, bottom)
ex_crop = check_padded_box(crop_box, box=(20, 300, 120, 470), pad=0.1, width=640, height=480)

# %% [markdown]
# Then the letterbox: a crop 120 px wide and 300 px tall goes into a 224x224 square without being stretched. What
# is its size inside the square, `(new_width, new_height)`, before the grey bars fill the rest?

# %%
letterboxed = None  # TODO: your code, (new_width, new_height)
ex_letterbox = check_letterbox_size(letterboxed, width=120, height=300, size=224)

# %% [markdown]
# ## What you have now, and exercises
#
# `data/course/merged` is a YOLO dataset for the detector (notebook 02) and `data/course/crops` an
# ImageFolder for the classifiers (notebook 03). The same steps from a terminal:
#
# ```
# fallkd synth --out data/synthetic --profile quick          # or --images 300 --imgsz 640
# fallkd merge data/synthetic/park data/synthetic/cctv --out data/merged
# fallkd crops data/merged --out data/crops --profile quick  # or --size 224 --pad 0.1
# ```
#
# 1. Set `near_duplicate_distance=0` in the merge and count the groups again. What happens to leakage?
# 2. Map `lying` to `normal` instead of `fall` in section 2. Which real situations would each choice get
#    wrong?
# 3. Re-run section 6 with `data_config(PROFILE, crop_pad=0.0)` and `crop_pad=0.3` and look at the crops:
#    which would you rather classify? A classifier trained on the 0.3 crops carries `pad=0.3` with it: the
#    pipeline of notebook 05 then cuts people with 0.3, without being told.
# 4. Merge two real exports (in the full profile, the report's Roboflow sets; or any two YOLO exports you
#    have, e.g. `fallkd merge path/to/export_a path/to/export_b --out data/real`) and read `report.json`.
#    Which class names needed a mapping? How many boxes were identity boxes? How many groups did video
#    frames form, and does `group_pattern` (a regex on file names, e.g. the video id) change them?
#
# ## Your results card

# %%
from fallkd_lib.course.cards import results_card

images = report.counts["images"]
results_card(
    "01_data",
    {
        "images in": images["input"],
        "images kept": images["kept"],
        "groups": report.counts["groups"],
        "groups in more than one split": int((splits_per_group > 1).sum()),
        "crops": crops.total,
        "aspect-ratio rule, balanced accuracy": accuracy,
        "exercises": {"padded box": ex_crop, "letterbox": ex_letterbox},
    },
    profile=PROFILE,
    timings={"merge s": report.elapsed_s},
)
