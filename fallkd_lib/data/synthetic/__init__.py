"""The embedded default dataset: synthetic scenes with articulated people, in the Roboflow YOLO layout.

The course's two outdoor styles, each with its own class names as two Roboflow projects would have:
"park" (eye-level colour photos; names ['Fall-Detected', 'person']) and "cctv" (high-angle surveillance, often
night or infrared; names ['fallen', 'sitting', 'standing', 'walking']). A third, indoor style, "room" (a care
room or flat from a high corner; names ['fall', 'lie', 'sit', 'stand'], "lie" being in bed), is rendered on
request: the real recipe pretrains on all three.

    from fallkd_lib.data.synthetic import generate_dataset
    generate_dataset("data/synthetic_park", images=600, style="park")
"""

from __future__ import annotations

from fallkd_lib.data.synthetic.baseline import aspect_ratio_baseline, best_threshold
from fallkd_lib.data.synthetic.clips import (
    SCENARIOS,
    ClipInfo,
    generate_clip,
    generate_clip_set,
    read_clip_truth,
)
from fallkd_lib.data.synthetic.figure import Look, Pose, interpolate_pose, render_figure
from fallkd_lib.data.synthetic.generate import generate_dataset, split_counts
from fallkd_lib.data.synthetic.poses import (
    FALL_POSTURES,
    NORMAL_POSTURES,
    POSTURES,
    is_fall,
    sample_look,
    sample_pose,
)
from fallkd_lib.data.synthetic.scene import (
    ALL_STYLES,
    INDOOR_STYLES,
    STYLE_CLASS_NAMES,
    STYLES,
    WORLDS,
    check_style,
    class_name,
    render_scene,
    style_spec,
)

__all__ = [
    "SCENARIOS",
    "ClipInfo",
    "generate_clip",
    "generate_clip_set",
    "read_clip_truth",
    "FALL_POSTURES",
    "NORMAL_POSTURES",
    "POSTURES",
    "ALL_STYLES",
    "INDOOR_STYLES",
    "STYLES",
    "STYLE_CLASS_NAMES",
    "Look",
    "Pose",
    "aspect_ratio_baseline",
    "best_threshold",
    "check_style",
    "class_name",
    "generate_dataset",
    "interpolate_pose",
    "is_fall",
    "render_figure",
    "render_scene",
    "style_spec",
    "WORLDS",
    "sample_look",
    "sample_pose",
    "split_counts",
]
