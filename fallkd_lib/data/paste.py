"""Real people pasted into rendered scenes: a detector's pretraining set that shows what real people look like at
the sizes, places, lighting and image quality of cameras the real images never show (copy-paste augmentation,
Dwibedi et al. 2017, Ghiasi et al. 2021; here without masks: each person is a feathered rectangle).

The rendered people of the synthetic world are drawn shapes: a detector trained on them alone finds almost no
real person (benchmarks/bench_real.py, person detectors table). The real images of one camera show real people,
but at one size and from one viewpoint. Pasting the training split's people into the synthetic world's scenes
gives both: every pasted person is a real one (its box labelled with its own class), placed small or large, in a
room, a park or a street at night, then degraded with the scene (grey under IR light, noise, blur, JPEG).

Only the people of the `people` dataset's train split are used, so its valid and test splits stay unseen.
Output: a YOLO dataset of the scenes' splits with the scenes' names (the scenes' own labels kept)::

    OUT/{train,valid,test}/images/*.jpg  OUT/{...}/labels/*.txt  OUT/data.yaml  OUT/paste_report.json
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from tqdm.auto import tqdm

from fallkd_lib.data import yolo
from fallkd_lib.data.crops import dataset_sources
from fallkd_lib.data.imageio import open_rgb, save_image_atomic
from fallkd_lib.edge.fall_state import _overlap  # intersection over the smaller box: what a paste may cover
from fallkd_lib.errors import UsageError
from fallkd_lib.io import write_json_atomic

REPORT_FILE = "paste_report.json"


@dataclass(frozen=True)
class PasteSpec:
    """How many people go into each scene and how they are cut, sized and blended."""

    per_scene: tuple[int, ...] = (1, 2, 3)  # drawn uniformly
    margin: float = 0.08  # context kept around each person box, a share of its side (feathered away)
    feather: float = 0.12  # the alpha ramp at the cut's edge, a share of its shorter side
    long_side: tuple[float, float] = (0.12, 0.6)  # the person box's longer side, a share of the scene's side
    max_overlap: float = 0.2  # of any labelled box (a scene's person or a pasted one) a paste may cover
    seed: int = 0

    def check(self) -> None:
        """Raise a clear error for a value out of range."""
        lo, hi = self.long_side
        if not self.per_scene or min(self.per_scene) < 0:
            raise UsageError(f"per_scene={self.per_scene}: give counts >= 0, e.g. (1, 2, 3)")
        if not 0 < lo <= hi <= 1:
            raise UsageError(f"long_side={self.long_side}: give 0 < low <= high <= 1, e.g. (0.12, 0.6)")
        if not (0 <= self.margin < 1 and 0 <= self.feather < 0.5 and 0 <= self.max_overlap <= 1):
            raise UsageError(
                f"margin={self.margin}, feather={self.feather}, max_overlap={self.max_overlap}: give a margin "
                "in [0, 1), a feather in [0, 0.5) and a max_overlap in [0, 1]"
            )


@dataclass(frozen=True)
class Cut:
    """One real person: the image, its box (pixels) and its class name."""

    image: Path
    box: tuple[float, float, float, float]
    name: str


def people_cuts(
    root: str | Path, split: str = "train", sources: tuple[str, ...] | None = None, min_side: int = 16
) -> list[Cut]:
    """Every labelled person of one split of a YOLO dataset (of `sources` only, by its merge manifest, if given)
    whose box is at least min_side pixels both ways."""
    root = Path(root)
    names = yolo.read_class_names(root / "data.yaml")
    of = dataset_sources(root) if sources is not None else {}
    if sources is not None and not of:
        raise UsageError(f"{root}: no manifest.csv says where its images came from; pass sources=None")
    cuts = []
    for item in yolo.iter_dataset(root, (split,)):
        rel = item.image.resolve().relative_to(root.resolve()).as_posix()
        if not item.boxes or (sources is not None and of.get(rel) not in sources):
            continue
        with Image.open(item.image) as im:
            width, height = im.size
        for b in item.boxes:
            x1, y1, x2, y2 = b.to_xyxy(width, height)
            if min(x2 - x1, y2 - y1) >= min_side:
                cuts.append(Cut(item.image, (x1, y1, x2, y2), names[b.cls]))
    return cuts


def feather_mask(width: int, height: int, feather: float) -> np.ndarray:
    """(height, width) float alpha: 1 inside, rising linearly from the edge over feather x the shorter side."""
    ramp = max(feather * min(width, height), 1e-6)
    x = np.minimum(np.arange(width) + 0.5, width - np.arange(width) - 0.5) / ramp
    y = np.minimum(np.arange(height) + 0.5, height - np.arange(height) - 0.5) / ramp
    return np.clip(np.minimum(y[:, None], x[None, :]), 0, 1).astype(np.float32)


def paste_person(
    scene: np.ndarray, cut: Image.Image, box: tuple[float, float, float, float], spec: PasteSpec, rng
) -> tuple[float, float, float, float]:
    """Blend one cut (the person with its margin, already sized) into scene (H, W, 3 uint8, changed in place) with
    its top-left at box[:2]: grey in a grey scene, its brightness brought towards the scene's there; returns the
    person's box in scene pixels (the cut's box less its margin)."""
    x, y = int(round(box[0])), int(round(box[1]))
    patch = np.asarray(cut, dtype=np.float32)
    h, w = patch.shape[:2]
    region = scene[y : y + h, x : x + w].astype(np.float32)
    if np.abs(scene[..., 0].astype(np.int16) - scene[..., 1]).mean() < 2:  # a grey (IR, night) scene
        patch = np.repeat(patch.mean(axis=2, keepdims=True), 3, axis=2)
    gain = np.clip((region.mean() + 1) / (patch.mean() + 1) * rng.uniform(0.8, 1.25), 0.35, 1.6)
    alpha = feather_mask(w, h, spec.feather)[..., None]
    blended = alpha * np.clip(patch * gain, 0, 255) + (1 - alpha) * region
    scene[y : y + h, x : x + w] = blended.round().astype(np.uint8)
    mx, my = w * spec.margin / (1 + 2 * spec.margin), h * spec.margin / (1 + 2 * spec.margin)
    return (x + mx, y + my, x + w - mx, y + h - my)


def _sized_cut(cut: Cut, side: int, spec: PasteSpec, rng) -> Image.Image:
    """The person with its margin, cut from its image, flipped at random, its longer side long_side of `side`."""
    x1, y1, x2, y2 = cut.box
    mw, mh = (x2 - x1) * spec.margin, (y2 - y1) * spec.margin
    image = open_rgb(cut.image)
    piece = image.crop((round(x1 - mw), round(y1 - mh), round(x2 + mw), round(y2 + mh)))  # outside: black
    if rng.random() < 0.5:
        piece = piece.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    longer = rng.uniform(*spec.long_side) * side * (1 + 2 * spec.margin)
    scale = longer / max(piece.size)
    size = (max(int(round(piece.width * scale)), 4), max(int(round(piece.height * scale)), 4))
    return piece.resize(size, Image.Resampling.BILINEAR)


def _degrade(image: Image.Image, rng) -> Image.Image:
    """Blur, sensor noise and JPEG over the whole scene after pasting, so the pastes wear the scene's quality."""
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.0))))
    pixels = np.asarray(image, dtype=np.float32)
    pixels = pixels + rng.normal(0, rng.uniform(0, 6), pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def paste_dataset(
    scenes: str | Path,
    people: str | Path,
    out: str | Path,
    spec: PasteSpec | None = None,
    sources: tuple[str, ...] | None = None,
    progress: bool = True,
) -> dict:
    """Paste the people of `people`'s train split (of `sources` only, if given) into every scene of `scenes` (both
    YOLO datasets with the same class names, e.g. merged ones); writes OUT as a YOLO dataset and returns (and
    saves) the report. Resumes: an image already written is kept (its labels are written after it); a finished
    folder returns the report it saved."""
    spec = spec or PasteSpec()
    spec.check()
    scenes, people, out = Path(scenes), Path(people), Path(out)
    names = yolo.read_class_names(scenes / "data.yaml")
    people_names = yolo.read_class_names(people / "data.yaml")
    if people_names != names:
        raise UsageError(
            f"{people / 'data.yaml'} names {people_names}, {scenes / 'data.yaml'} names {names}: paste between "
            "datasets with the same class names (merge both with `fallkd merge` first)"
        )
    cuts = people_cuts(people, "train", sources)
    if not cuts:
        raise UsageError(
            f"{people}: its train split has no labelled person of 16 px or more to paste (sources {sources})"
        )
    asked = {
        "scenes": str(scenes),
        "people": str(people),
        "sources": None if sources is None else list(sources),
    }
    asked["spec"] = json.loads(json.dumps(asdict(spec)))  # tuples as lists: as the report saves them
    if (out / REPORT_FILE).is_file():
        saved = read_paste_report(out)
        saved = {k: saved.get(k) for k in asked}
        if saved != asked:
            raise UsageError(
                f"{out} holds people pasted with other inputs ({saved}), not {asked}: use another folder, or delete "
                "it to paste again"
            )
    items = list(yolo.iter_dataset(scenes))
    pasted, skipped, written, counts = 0, 0, 0, {}
    for k, item in enumerate(tqdm(items, desc="paste people", unit="scene", disable=not progress)):
        image_out = out / item.split / "images" / f"{item.image.stem}.jpg"
        label_out = out / item.split / "labels" / f"{item.image.stem}.txt"
        counts[item.split] = counts.get(item.split, 0) + 1
        if image_out.is_file() and label_out.is_file():
            continue
        written += 1
        rng = np.random.default_rng([spec.seed, k])
        scene = np.array(open_rgb(item.image))
        height, width = scene.shape[:2]
        taken = [np.array(b.to_xyxy(width, height)) for b in item.boxes]
        boxes = list(item.boxes)
        for _ in range(int(rng.choice(spec.per_scene))):
            cut = cuts[int(rng.integers(len(cuts)))]
            piece = _sized_cut(cut, min(width, height), spec, rng)
            if piece.width >= width or piece.height >= height:
                skipped += 1
                continue
            for _try in range(20):
                x, y = rng.uniform(0, width - piece.width), rng.uniform(0, height - piece.height)
                where = np.array([x, y, x + piece.width, y + piece.height])
                if max((_overlap(where, box) for box in taken), default=0.0) <= spec.max_overlap:
                    break
            else:
                skipped += 1  # no free place in 20 tries: counted, the scene keeps its other people
                continue
            x1, y1, x2, y2 = paste_person(scene, piece, tuple(where), spec, rng)
            taken.append(where)
            boxes.append(
                yolo.Box(
                    names.index(cut.name),
                    (x1 + x2) / 2 / width,
                    (y1 + y2) / 2 / height,
                    (x2 - x1) / width,
                    (y2 - y1) / height,
                )
            )
            pasted += 1
        image_out.parent.mkdir(parents=True, exist_ok=True)
        save_image_atomic(_degrade(Image.fromarray(scene), rng), image_out, quality=int(rng.integers(50, 93)))
        yolo.write_labels(label_out, boxes)
    if not written and (out / REPORT_FILE).is_file():
        return read_paste_report(out)  # finished before: its report stands
    yolo.write_data_yaml(out, names)
    report = {
        **asked,
        "cuts": len(cuts),
        "images": counts,
        "pasted_this_run": pasted,
        "skipped_no_room": skipped,
    }
    write_json_atomic(out / REPORT_FILE, report)
    return report


def read_paste_report(out: str | Path) -> dict:
    """The report paste_dataset saved in out."""
    return json.loads((Path(out) / REPORT_FILE).read_text(encoding="utf-8"))
