"""What a merge kept and dropped, and why: the report (also OUT/report.json) and the counting behind it."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from fallkd_lib.data import yolo

MERGE_FORMAT = 1  # report.json key "fallkd_merge": marks a folder fallkd_lib.data.merge may replace
IMAGE_DROPS = ("unreadable_image", "exact_duplicate", "near_duplicate")
BOX_DROPS = ("bad_label_line", "dropped_class", "identity_redundant", "identity_unpaired")


@dataclass
class MergeReport:
    """What a merge kept and dropped, and why (also written to OUT/report.json).

    counts: images (input, kept, per drop reason), boxes (kept fall/normal, per drop reason), per_source,
    per_split, per_class, per_source_split, groups. dropped: one dict per dropped item (kind, source, file,
    line, reason, of). Label-level entries cover every image read, including images later dropped. emptied: the
    merged images (relative paths) whose every box the class map dropped: background now, yet a person is in
    them, so the detector's dataset leaves them out.
    """

    out: str
    names: list[str]
    counts: dict
    settings: dict
    elapsed_s: float = 0.0
    dropped: list[dict] = field(default_factory=list)
    emptied: list[str] = field(default_factory=list)
    fallkd_merge: int = MERGE_FORMAT

    def to_dict(self) -> dict:
        """A JSON-ready dict of the whole report."""
        return asdict(self)

    def summary(self) -> str:
        """A few lines for a notebook: kept/dropped images, split sizes, boxes."""
        im, bx, c = self.counts["images"], self.counts["boxes"], self.counts
        lines = [
            f"merged {len(c['per_source'])} source(s) into {self.out} in {self.elapsed_s:.1f} s: {im['kept']} of "
            f"{im['input']} images kept ({im['unreadable_image']} unreadable, {im['exact_duplicate']} exact "
            f"duplicates, {im['near_duplicate']} cross-source near duplicates dropped), {c['groups']} groups",
        ]
        for split, row in c["per_split"].items():
            lines.append(
                f"  {split:5s}: {row['images']:6d} images (fall {row['fall']}, normal {row['normal']}, "
                f"background {row['background']}); boxes fall {row['fall_boxes']}, normal {row['normal_boxes']}"
            )
        lines.append(
            f"  boxes kept: fall {bx['fall']}, normal {bx['normal']}; left out: {bx['dropped_class']} by class map, "
            f"{bx['identity_redundant'] + bx['identity_unpaired']} identity, {bx['bad_label_line']} bad label lines"
        )
        lines.append(
            "  kept/input: " + ", ".join(f"{s} {r['kept']}/{r['input']}" for s, r in c["per_source"].items())
        )
        emptied = sum(r["emptied_images"] for r in c["per_source"].values())
        if emptied:
            lines.append(
                f"  {emptied} image(s) lost all their boxes to the class map and are now background (listed in "
                "report.json; the detector's dataset leaves them out)"
            )
        return "\n".join(lines)


def _sums(rows: list[dict]) -> dict:
    """Image counts per label and box counts of some manifest rows."""
    sums = {"images": len(rows), "fall": 0, "normal": 0, "background": 0, "fall_boxes": 0, "normal_boxes": 0}
    for r in rows:
        sums[r["label"]] += 1
        sums["fall_boxes"] += r["n_fall"]
        sums["normal_boxes"] += r["n_normal"]
    return sums


def count_merge(
    srcs: list, n_input: int, rows: list[dict], dropped: list[dict], items: list, kept: list[int]
) -> dict:
    """Counts per source, split, class and source x split, and per drop reason (MergeReport.counts)."""
    kinds = Counter(d["kind"] for d in dropped)
    by_source = Counter((d["source"], d["kind"]) for d in dropped)
    inputs = Counter(srcs[it.source][0] for it in items)
    inputs.update(d["source"] for d in dropped if d["kind"] == "unreadable_image")
    emptied = Counter(srcs[items[i].source][0] for i in kept if items[i].emptied)
    per_source = {}
    for name, path in srcs:
        mine = _sums([r for r in rows if r["source"] == name])
        drops = {kind: by_source[(name, kind)] for kind in (*IMAGE_DROPS, *BOX_DROPS)}
        kept_here = mine.pop("images")
        per_source[name] = dict(path=str(path), input=inputs[name], kept=kept_here, **mine, **drops)
        per_source[name]["emptied_images"] = emptied[name]
    total = _sums(rows)
    return {
        "images": {"input": n_input, "kept": len(rows), **{k: kinds[k] for k in IMAGE_DROPS}},
        "boxes": {
            "fall": total["fall_boxes"],
            "normal": total["normal_boxes"],
            **{k: kinds[k] for k in BOX_DROPS},
        },
        "per_source": per_source,
        "per_split": {s: _sums([r for r in rows if r["split"] == s]) for s in yolo.SPLITS},
        "per_class": {
            "fall": {"images": total["fall"], "boxes": total["fall_boxes"]},
            "normal": {"images": total["normal"], "boxes": total["normal_boxes"]},
            "background": {"images": total["background"]},
        },
        "per_source_split": {
            n: {s: sum(r["source"] == n and r["split"] == s for r in rows) for s in yolo.SPLITS}
            for n, _ in srcs
        },
    }
