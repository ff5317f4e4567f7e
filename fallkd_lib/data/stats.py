"""Tables of a YOLO dataset for exploration: one row per box, one row per image, class balance with shares."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fallkd_lib.data.crops import check_dataset, dataset_sources, image_size
from fallkd_lib.data.yolo import SPLITS, iter_dataset, read_class_names
from fallkd_lib.errors import UsageError

BOX_COLUMNS = (
    *("split", "source", "image", "image_width", "image_height", "box_index", "class_id", "class"),
    *("width_px", "height_px", "area_frac", "aspect"),
)

IMAGE_COLUMNS = ("split", "source", "image", "n_boxes", "n_invalid_lines", "label")
BALANCE_COLUMNS = ("by", "group", "class", "count", "share")


def box_table(dataset: str | Path, progress: bool = True) -> pd.DataFrame:
    """One row per valid box: split, source, image, class, size in pixels, area fraction, aspect (w/h).

    Image sizes come from the file headers (pixels are not decoded), so this is fast on large datasets.
    """
    root = check_dataset(dataset)
    names = read_class_names(root / "data.yaml")
    sources = dataset_sources(root)
    rows, unreadable, issues = [], [], 0
    items = list(iter_dataset(root))
    for item in tqdm(items, desc="boxes", unit="img", disable=not progress):
        issues += len(item.issues)
        if not item.boxes:
            continue
        size = image_size(item.image)
        if size is None:
            unreadable.append(str(item.image))
            continue
        width, height = size
        rel = item.image.relative_to(root).as_posix()
        for index, box in enumerate(item.boxes):
            w_px, h_px = box.w * width, box.h * height
            rows.append(
                (
                    item.split,
                    sources.get(rel, "unknown"),
                    rel,
                    width,
                    height,
                    index,
                    box.cls,
                    names[box.cls],
                    w_px,
                    h_px,
                    box.w * box.h,
                    w_px / h_px,
                )
            )
    table = pd.DataFrame(rows, columns=list(BOX_COLUMNS))
    table["class"] = pd.Categorical(table["class"], categories=list(dict.fromkeys(names)))
    table.attrs.update(dataset=str(root), unreadable_images=unreadable, invalid_label_lines=issues)
    if unreadable:
        warnings.warn(
            f"{len(unreadable)} image(s) skipped: header unreadable (first: {unreadable[0]}); "
            "see table.attrs['unreadable_images']",
            stacklevel=2,
        )
    return table


def image_table(dataset: str | Path) -> pd.DataFrame:
    """One row per image: split, source, n_boxes and a label (the lowest class id present, or background)."""
    root = check_dataset(dataset)
    names = read_class_names(root / "data.yaml")
    sources = dataset_sources(root)
    rows = []
    for item in iter_dataset(root):
        rel = item.image.relative_to(root).as_posix()
        label = names[min(b.cls for b in item.boxes)] if item.boxes else "background"
        rows.append((item.split, sources.get(rel, "unknown"), rel, len(item.boxes), len(item.issues), label))
    return pd.DataFrame(rows, columns=list(IMAGE_COLUMNS))


def _group_order(by: str, values: pd.Series) -> list[str]:
    present = list(dict.fromkeys(values))
    if by == "split":
        return [s for s in (*SPLITS, "val") if s in present] + sorted(set(present) - {*SPLITS, "val"})
    return sorted(present)


def class_balance(data: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Box counts and shares (within each group) per split x class and per source x class, in long format."""
    boxes = data if isinstance(data, pd.DataFrame) else box_table(data, progress=False)
    if boxes.empty:
        return pd.DataFrame(columns=list(BALANCE_COLUMNS))
    if isinstance(boxes["class"].dtype, pd.CategoricalDtype):
        classes = list(boxes["class"].cat.categories)
    else:
        classes = sorted(boxes["class"].unique())
    parts = []
    for by in ("split", "source"):
        groups = _group_order(by, boxes[by])
        counts = (
            boxes.groupby([by, boxes["class"].astype(str)], observed=True)
            .size()
            .unstack(fill_value=0)
            .reindex(index=groups, columns=classes, fill_value=0)
        )
        totals = counts.sum(axis=1).to_numpy()[:, None]
        shares = np.divide(counts.to_numpy(), totals, out=np.zeros(counts.shape), where=totals > 0)
        for i, group in enumerate(groups):
            for j, name in enumerate(classes):
                parts.append((by, group, name, int(counts.iat[i, j]), float(shares[i, j])))
    return pd.DataFrame(parts, columns=list(BALANCE_COLUMNS))


def best_aspect_threshold(boxes: pd.DataFrame, positive: str = "fall") -> tuple[float, float]:
    """(threshold, balanced accuracy) of the best rule `aspect > t -> positive`: how far aspect ratio alone goes."""
    is_pos = (boxes["class"].astype(str) == positive).to_numpy()
    if is_pos.all() or not is_pos.any():
        raise UsageError(
            f"need boxes of class {positive!r} and of other classes, got {int(is_pos.sum())} of {len(is_pos)}"
        )
    aspect = boxes["aspect"].to_numpy(dtype=float)
    order = np.argsort(aspect, kind="stable")
    a, pos = aspect[order], is_pos[order]
    # Threshold between a[k-1] and a[k]: boxes 0..k-1 predicted negative, k.. predicted positive.
    neg_below = np.concatenate([[0], np.cumsum(~pos)])
    pos_above = pos.sum() - np.concatenate([[0], np.cumsum(pos)])
    balanced = 0.5 * (neg_below / (~pos).sum() + pos_above / pos.sum())
    valid = np.concatenate([[True], a[1:] > a[:-1], [True]])  # only cut between distinct values
    k = int(np.argmax(np.where(valid, balanced, -1)))
    edges = np.concatenate([[a[0] - 1e-9], (a[:-1] + a[1:]) / 2, [a[-1]]])
    return float(edges[k]), float(balanced[k])
