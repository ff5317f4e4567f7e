"""Typed configuration: one dataclass per entry point, defaults that reproduce the reference recipe, a quick
profile for laptops and CI, values checked when the config is made, unknown keys rejected with a suggestion.

    DataConfig       synthetic generation, merge, crops          data_config(profile, **overrides)
    TrainConfig      classifiers, the teacher, distillation      train_config(profile, **overrides)
    DetectConfig     detector training                           detect_config(profile, **overrides)
    PipelineConfig   the camera: thresholds, tracker, fall state pipeline_config(profile, **overrides)
    FallStateConfig  the per-track state machine (inside PipelineConfig.state)

`parse_overrides` turns the command line's ``--set KEY=VALUE`` into typed values (``--set state.alert_after=5``
reaches a nested config). Settings that shape a model's input (crop size, pad, normalisation) are recorded in the
trained model and read back from it; the configs here only say how to make them.
"""

from __future__ import annotations

import math
import numbers
import typing
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from fallkd_lib.errors import UsageError
from fallkd_lib.overrides import convert, keys, parse_overrides, with_overrides  # noqa: F401 (re-exported)

if typing.TYPE_CHECKING:
    from fallkd_lib.data.geometry import CropSpec

PROFILES = ("quick", "full")
# training augmentations (TrainConfig.augment): "basic" crop/flip/colour; "camera" adds the other cameras' looks
AUGMENTS = ("basic", "camera")
# the course's classifiers by fallkd name -> timm architecture (fallkd_lib.models.create builds them)
TIMM_NAMES = {
    "resnet18": "resnet18",
    "efficientnet_b0": "efficientnet_b0",
    "vit_b_16": "vit_base_patch16_224",
    "vit_tiny": "vit_tiny_patch16_224",
}
VIT_PATCH = 16
# PipelineConfig.tracker for fallkd's IoU tracker (the edge bundle's; see runtime/tracking.py)
IOU_TRACKER = "iou"


def _fail(config: object, name: str, value: object, rule: str) -> None:
    raise UsageError(f"{type(config).__name__}.{name}={value!r}: {rule}")


def _number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _require(config: object, checks: Sequence[tuple[str, typing.Callable[[object], bool], str]]) -> None:
    """Raise a UsageError naming the first field whose value fails its check."""
    for name, ok, rule in checks:
        value = getattr(config, name)
        if not ok(value):
            _fail(config, name, value, rule)


def _integer(low: int) -> typing.Callable[[object], bool]:
    return lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= low


def _at_least(low: float, strict: bool = False) -> typing.Callable[[object], bool]:
    return lambda v: _number(v) and (v > low if strict else v >= low)


def check_kd_params(alpha: float, temperature: float) -> None:
    """Raise a UsageError naming the value when alpha is outside [0, 1] or the temperature is not > 0."""
    if not (_number(alpha) and 0.0 <= float(alpha) <= 1.0):
        raise UsageError(
            f"alpha={alpha!r} is invalid: it is the weight of the hard-label cross-entropy and must lie in [0, 1] "
            "(1 = no distillation, 0 = teacher only; the report's recipe uses 0.85)."
        )
    if not (_number(temperature) and float(temperature) > 0):
        raise UsageError(
            f"temperature={temperature!r} is invalid: the softmax temperature T must be a finite number > 0 "
            "(1 = plain softmax; the report's recipe uses 2)."
        )


def _model_name(value: object) -> bool:
    return value in TIMM_NAMES


@dataclass(frozen=True)
class DataConfig:
    """Settings of the data stage (synthetic generation, merge, crops)."""

    source: str = "roboflow"  # "synthetic" (embedded default, offline) or "roboflow" (the report's data)
    synth_images: int = 600  # images per synthetic style
    synth_size: int = 640  # synthetic image side in pixels (the detector's input size)
    synth_world: str = (
        "full"  # "full" (night, IR, steep CCTV, occlusion) or "clear" (the quick profile's world)
    )
    seed: int = 0
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)  # train / valid / test fractions
    near_duplicate_distance: int = 4  # perceptual-hash Hamming distance that counts as the same photo
    crop_size: int = 224  # classifier crop side, as in the reference report
    crop_pad: float = 0.1  # context added around each person box, as a fraction of its size

    def __post_init__(self) -> None:
        """Check every value (the crop geometry through CropSpec)."""
        _require(
            self,
            [
                ("source", lambda v: v in ("synthetic", "roboflow"), "choose 'synthetic' or 'roboflow'"),
                ("synth_images", _integer(1), "need at least 1 image per style"),
                ("synth_size", lambda v: _integer(64)(v) and v % 32 == 0, "a multiple of 32, >= 64"),
                ("synth_world", lambda v: v in ("full", "clear"), "choose 'full' or 'clear'"),
                ("seed", _integer(0), "an integer >= 0"),
                ("near_duplicate_distance", lambda v: _integer(0)(v) and v <= 64, "bits, 0..64"),
            ],
        )
        from fallkd_lib.data.split import check_fractions  # imported here: config stays light

        object.__setattr__(self, "split", check_fractions(self.split))
        self.crop_spec()

    def crop_spec(self) -> CropSpec:
        """The CropSpec that `fallkd crops` cuts with under these settings (imported here: config stays light)."""
        from fallkd_lib.data.geometry import CropSpec

        return CropSpec(self.crop_size, self.crop_pad)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of classifier training and distillation; defaults are the reference recipe."""

    model: str = (
        "efficientnet_b0"  # resnet18 | efficientnet_b0 | vit_b_16 (teacher) | vit_tiny (quick teacher)
    )
    pretrained: bool = True  # ImageNet weights (downloaded online, or from a local file)
    image_size: int = 224  # the model's input side (crops are resized to it)
    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "adam"  # adam | adamw
    lr: float = 1e-3  # the report: Adam 1e-3, betas (0.9, 0.999)
    weight_decay: float = 0.0
    scheduler: str = "cosine"  # cosine | none
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    alpha: float = 0.85  # KD: weight of the hard-label cross-entropy (the report's recipe)
    temperature: float = 2.0  # KD: softmax temperature T
    teacher: str = "vit_b_16"
    teacher_train_last_blocks: int = 1  # the report: only the last encoder block, final norm and head train
    teacher_epochs: int = 0  # epochs of the teacher's own training (0 = the same as epochs)
    workers: int = 2
    seed: int = 0
    amp: bool = True  # mixed precision, used on CUDA only
    channels_last: bool = True  # NHWC memory: on CUDA, and on CPU for depthwise-conv models (EfficientNet)
    max_batches: int = 0  # cap batches per epoch (0 = all): quick smoke runs
    augment: str = "basic"  # basic | camera: + viewpoint, low light, blur, noise, grey/IR, JPEG (augment.py)

    def __post_init__(self) -> None:
        """Check every value, so a bad temperature fails before a teacher and its cache are loaded."""
        names = ", ".join(TIMM_NAMES)
        _require(
            self,
            [
                ("model", _model_name, f"choose one of {names}"),
                ("teacher", _model_name, f"choose one of {names}"),
                ("pretrained", lambda v: isinstance(v, bool), "true or false"),
                ("image_size", _integer(16), "pixels, an integer >= 16"),
                ("epochs", _integer(1), "an integer >= 1"),
                ("batch_size", _integer(1), "an integer >= 1"),
                ("optimizer", lambda v: v in ("adam", "adamw"), "choose adam or adamw"),
                ("lr", _at_least(0), "a learning rate >= 0 (the report: 1e-3; 0 freezes the weights)"),
                ("weight_decay", _at_least(0), "a number >= 0"),
                ("scheduler", lambda v: v in ("cosine", "none"), "choose cosine or none"),
                ("warmup_epochs", _integer(0), "an integer >= 0"),
                (
                    "label_smoothing",
                    lambda v: _number(v) and 0 <= v < 1,
                    "in [0, 1) (0 = none, 0.1 is common)",
                ),
                ("teacher_train_last_blocks", _integer(0), "an integer >= 0"),
                ("teacher_epochs", _integer(0), "an integer >= 0 (0 = the same as epochs)"),
                ("workers", _integer(0), "an integer >= 0"),
                ("seed", _integer(0), "an integer >= 0"),
                ("max_batches", _integer(0), "an integer >= 0 (0 = every batch)"),
                ("augment", lambda v: v in AUGMENTS, f"choose one of {', '.join(AUGMENTS)}"),
            ],
        )
        if self.model.startswith("vit") and self.image_size % VIT_PATCH:
            good = max(VIT_PATCH, round(self.image_size / VIT_PATCH) * VIT_PATCH)
            _fail(
                self,
                "image_size",
                self.image_size,
                f"{self.model} needs a multiple of {VIT_PATCH}: try {good}",
            )
        check_kd_params(self.alpha, self.temperature)


# The quick profile trains from scratch on a CPU in about a minute per model: 48 px inputs, batch 64 (smaller
# batches leave a CPU idle between steps), AdamW at 2e-3 after one epoch of warm-up, and a ResNet18 teacher that
# trains longer than its students (a ViT from scratch on ~2,500 crops does not learn; ViTs need pretraining).
QUICK_TRAIN = TrainConfig(
    pretrained=False,
    image_size=48,
    epochs=4,
    batch_size=64,
    optimizer="adamw",
    lr=2e-3,
    weight_decay=0.01,
    warmup_epochs=1,
    teacher="resnet18",
    teacher_epochs=8,
    workers=0,
)
FULL_TRAIN = TrainConfig()


@dataclass(frozen=True)
class DetectConfig:
    """Settings of detector training; defaults are the reference recipe (YOLOv5s, 640 px, batch 8, 50 epochs)."""

    model: str = "yolov5s.yaml"  # ultralytics builds the anchor-free YOLOv5su from it
    pretrained: str | None = "yolov5su.pt"  # COCO weights (online, or a local file); None trains from scratch
    imgsz: int = 640  # the detector's input side (recorded in its checkpoint; the camera reads it back)
    batch: int = 8
    epochs: int = 50
    workers: int = 2
    seed: int = 0
    patience: int = 100  # epochs without a better validation mAP before ultralytics stops early
    fraction: float = (
        1.0  # share of the train images used (ultralytics' `fraction`): the quick lesson's budget
    )
    val: bool = True  # score the valid split after every epoch (False: after the last only, for best.pt)

    def __post_init__(self) -> None:
        """Check every value before ultralytics is imported."""
        _require(
            self,
            [
                ("model", lambda v: str(v).endswith((".yaml", ".pt")), "a model .yaml or a .pt checkpoint"),
                ("pretrained", lambda v: v is None or isinstance(v, str), "a weights file or None"),
                ("imgsz", lambda v: _integer(32)(v) and v % 32 == 0, "a multiple of 32 (YOLO's stride)"),
                ("batch", lambda v: _integer(1)(v) or v == -1, "an integer >= 1 (or -1: ultralytics picks)"),
                ("epochs", _integer(1), "an integer >= 1"),
                ("workers", _integer(0), "an integer >= 0"),
                ("seed", _integer(0), "an integer >= 0"),
                ("patience", _integer(1), "an integer >= 1"),
                (
                    "fraction",
                    lambda v: _number(v) and 0 < v <= 1,
                    "a share in (0, 1] (1 = every train image)",
                ),
                ("val", lambda v: isinstance(v, bool), "True or False"),
            ],
        )


QUICK_DETECT = DetectConfig(pretrained=None, imgsz=160, epochs=2, workers=0, fraction=0.05, val=False)
FULL_DETECT = DetectConfig()


@dataclass(frozen=True)
class FallStateConfig:
    """Thresholds and timings of the per-track state machine (times in seconds, probabilities in [0, 1]).

    smoothing: time constant of the exponential moving average of the fall probability; each observation
        moves the average by 1 - exp(-dt / smoothing) of the way to the new value, so the result does not
        depend on fps. 0 turns smoothing off. A single-frame spike is ignored while dt is below ~smoothing / 2.
    enter / exit: hysteresis on the smoothed probability: a fall starts at >= enter and the person counts as
        getting up only below exit (sitting or bending, around 0.5, never starts or ends a fall).
    alert_after: seconds down (from the frame the fall started) before the alert when the fall itself was seen
        (the fast path, below). Short, because the fall is already evidence: the wait only lets someone who
        trips and is straight back up go unreported, and help should not wait for a longer lie. A person who
        gets up after the alert is reported as `recovered`; raise it where quick tumbles are normal (a
        playground).
    found_down_after: seconds down before the alert when no fall was seen (the slow, long-lie path): someone
        found already down or fallen out of view, someone who sat or lay down on purpose, or an object that
        looks like a lying person; longer than alert_after, because nothing showed a fall.
    fall_drop / fall_window / fall_lookback: a fall is seen when the track's box top fell by at least fall_drop of
        the box's earlier height within fall_window seconds, from fall_lookback seconds before the track turned
        down (the classifier and the smoothing lag behind the body) to any time while it is down (the classifier
        can call someone down before they fall: a standing person cut off by the frame's top edge, someone
        crouching); alert_after then counts from the drop when it came over fall_window after. A fall takes about a
        second from upright to the ground, and the head ends near the floor, well over half a body height down;
        sitting down, even on the ground, takes longer and drops the head less. In the image the drop shrinks
        for a fall along the camera's line of sight seen from a steep camera (about 1 - tan(elevation) of the
        height for a head landing away from it): such a fall takes the slow path; lower fall_drop there.
    cooldown: seconds after an alert before the same track can alert again (a person who stays down is
        reported again every cooldown seconds).
    recovery: seconds the smoothed probability must stay below exit to count as recovered.
    forget_after: seconds unseen before a track is dropped (a person hidden 2 s behind a bench keeps its timer).
    """

    smoothing: float = 0.5
    enter: float = 0.7
    exit: float = 0.4
    alert_after: float = 2.0
    found_down_after: float = 30.0
    fall_drop: float = 0.4
    fall_window: float = 1.5
    fall_lookback: float = 5.0
    cooldown: float = 60.0
    recovery: float = 3.0
    forget_after: float = 5.0

    def __post_init__(self) -> None:
        """Reject settings that would make the state machine meaningless."""
        seconds = ("smoothing", "alert_after", "found_down_after", "fall_window", "fall_lookback", "cooldown")
        for name in (*seconds, "recovery", "forget_after"):
            value = getattr(self, name)
            if not (_number(value) and value >= 0):
                raise UsageError(f"FallStateConfig.{name}={value!r}: must be a finite number of seconds >= 0")
        if self.found_down_after < self.alert_after:
            raise UsageError(
                f"FallStateConfig.found_down_after={self.found_down_after!r} < alert_after={self.alert_after!r}: "
                "a person found already down (no fall seen) must wait at least as long as a seen fall"
            )
        if not (_number(self.fall_drop) and 0 < self.fall_drop <= 1):
            raise UsageError(
                f"FallStateConfig.fall_drop={self.fall_drop!r}: must be a share of the box height in (0, 1], "
                "e.g. 0.4; to alert as fast on every down track, set found_down_after = alert_after instead"
            )
        if self.forget_after == 0:
            raise UsageError(
                "FallStateConfig.forget_after=0 would drop every track at each frame; use e.g. 5.0"
            )
        if not (_number(self.exit) and _number(self.enter) and 0.0 <= self.exit < self.enter <= 1.0):
            raise UsageError(
                f"FallStateConfig: need 0 <= exit < enter <= 1, got exit={self.exit!r}, enter={self.enter!r}; "
                "the defaults are enter=0.7, exit=0.4"
            )


@dataclass(frozen=True)
class PipelineConfig:
    """The camera's own settings: detector thresholds, tracker and fall state. The crop geometry and the
    classifier's input come from the classifier, and the detector's input size from the detector unless set."""

    imgsz: int | None = None  # detector input side; None = the size the detector was trained (or exported) at
    conf: float = 0.25  # detector confidence threshold
    iou: float = 0.45  # non-maximum suppression IoU threshold
    # ultralytics tracker config: a name in fallkd_lib/assets (fallkd_bytetrack.yaml), one of ultralytics' own
    # (bytetrack.yaml) or a path; or "iou": fallkd's IoU tracker, the edge bundle's (also the fallback without `lap`)
    tracker: str = "bytetrack.yaml"
    # a track reaches the classifier and the alerts only after one of its boxes scored >= confirm_conf
    # (None: every tracked box counts); lets conf sit low for lying people without alerting on clutter
    confirm_conf: float | None = None
    # ... or once its box centre moved this share of its first box's longer side (None: by score only): people
    # move, clutter a detector mistakes for a person does not, whatever it scores (needs confirm_conf set)
    confirm_motion: float | None = None
    state: FallStateConfig = field(default_factory=FallStateConfig)

    def __post_init__(self) -> None:
        """Check the thresholds and the input size."""
        _require(
            self,
            [
                (
                    "imgsz",
                    lambda v: v is None or (_integer(32)(v) and v % 32 == 0),
                    "None or a multiple of 32",
                ),
                ("conf", lambda v: _number(v) and 0 <= v <= 1, "a probability in [0, 1]"),
                ("iou", lambda v: _number(v) and 0 < v <= 1, "an IoU in (0, 1]"),
                (
                    "tracker",
                    lambda v: isinstance(v, str) and (v.endswith(".yaml") or v == IOU_TRACKER),
                    f"a tracker .yaml or {IOU_TRACKER!r}",
                ),
                (
                    "confirm_conf",
                    lambda v: v is None or (_number(v) and 0 <= v <= 1),
                    "None or a probability in [0, 1]",
                ),
                (
                    "confirm_motion",
                    lambda v: v is None or (_number(v) and v > 0),
                    "None or a share of the box's longer side > 0",
                ),
                ("state", lambda v: isinstance(v, FallStateConfig), "a FallStateConfig"),
            ],
        )


# the quick profile's camera runs the shipped synthetic detector, which scores lying people low (0.1-0.3 on the
# clips): keep its weak boxes for tracking (fallkd_bytetrack.yaml), but classify a track only once it was seen
# with a confident box
QUICK_PIPELINE = PipelineConfig(conf=0.05, tracker="fallkd_bytetrack.yaml", confirm_conf=0.3)
FULL_PIPELINE = PipelineConfig()

# the quick world: 700 clear scenes per style at 320 px (people >= 15% of the frame tall), crops at 64 px
QUICK_DATA = DataConfig(
    source="synthetic", synth_images=700, synth_size=320, synth_world="clear", crop_size=64
)
FULL_DATA = DataConfig()
# each profile is the module constant <PROFILE>_<KIND> (QUICK_DATA, FULL_TRAIN...), looked up when asked for
_KINDS: dict[type, str] = {
    DataConfig: "DATA",
    TrainConfig: "TRAIN",
    DetectConfig: "DETECT",
    PipelineConfig: "PIPELINE",
}
Config = DataConfig | TrainConfig | DetectConfig | PipelineConfig | FallStateConfig


def profile_config(cls: type, profile: str = "quick", **overrides: object) -> Config:
    """The settings of a profile ('quick' or 'full') for a config class, with overrides checked by name."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    if cls not in _KINDS:
        names = [c.__name__ for c in _KINDS]
        raise UsageError(f"{cls.__name__} has no profiles; configs with profiles: {names}")
    return with_overrides(globals()[f"{profile.upper()}_{_KINDS[cls]}"], overrides)


def data_config(profile: str = "quick", **overrides: object) -> DataConfig:
    """The data settings of a profile, with keyword overrides checked by name."""
    return profile_config(DataConfig, profile, **overrides)  # type: ignore[return-value]


def train_config(profile: str = "quick", **overrides: object) -> TrainConfig:
    """The training settings of a profile, with keyword overrides checked by name."""
    return profile_config(TrainConfig, profile, **overrides)  # type: ignore[return-value]


def detect_config(profile: str = "quick", **overrides: object) -> DetectConfig:
    """The detector-training settings of a profile, with keyword overrides checked by name."""
    return profile_config(DetectConfig, profile, **overrides)  # type: ignore[return-value]


def pipeline_config(profile: str = "quick", **overrides: object) -> PipelineConfig:
    """The camera pipeline's settings of a profile (dotted keys such as 'state.alert_after' reach FallStateConfig)."""
    return profile_config(PipelineConfig, profile, **overrides)  # type: ignore[return-value]


def cli_config(cls: type, profile: str, sets: Sequence[str] = (), **shortcuts: object) -> Config:
    """A command's config: the profile, then --set overrides, then the command's own flags (None = not given)."""
    overrides = parse_overrides(cls, sets)
    for key, value in shortcuts.items():
        if value is None:
            continue
        if key in overrides and overrides[key] != value:
            raise UsageError(
                f"--set {key}={overrides[key]!r} disagrees with the flag that sets {key} to {value!r}"
            )
        overrides[key] = value
    return profile_config(cls, profile, **overrides)


def as_dict(config: Config) -> dict:
    """A plain dict of a config, for JSON reports."""
    return asdict(config)
