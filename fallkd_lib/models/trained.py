"""A trained classifier back from its checkpoint: the architecture, classes and input settings it recorded.

A fallkd checkpoint is a dict saved by `fallkd_lib.train.checkpoint.save_checkpoint` with ``format`` =
"fallkd-checkpoint", the weights (``model``), ``class_names`` / ``num_classes``, the training ``config`` (whose
``model`` names the architecture) and ``input`` (a `ClassifierInput` dict). This module only reads: the camera
runtime and the export rebuild a model here without importing fallkd's training code.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from fallkd_lib.errors import UsageError
from fallkd_lib.models.checkpoint_file import FORMAT, VERSION, read_checkpoint  # noqa: F401 (re-exported)
from fallkd_lib.models.create import VIT_NAMES, create_classifier
from fallkd_lib.models.inputs import ClassifierInput


def model_num_classes(model: nn.Module) -> int | None:
    """How many classes a classifier outputs: `model.num_classes` (timm) or the last Linear layer's size."""
    count = getattr(model, "num_classes", None)
    if isinstance(count, int):
        return count
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None


def load_model_state(
    path: Path, checkpoint: dict, model: nn.Module, class_names: list[str] | None = None
) -> None:
    """Put a checkpoint's weights into a model, after checking that classes and architecture agree."""
    saved_names, saved_count = checkpoint.get("class_names"), checkpoint.get("num_classes")
    model_count = model_num_classes(model)
    if saved_count is not None and model_count is not None and saved_count != model_count:
        raise UsageError(
            f"{path} was trained for {saved_count} classes {saved_names or ''} but the model outputs "
            f"{model_count}: build the model with num_classes={saved_count}, or train a new run folder"
        )
    if class_names is not None and saved_names is not None and list(class_names) != list(saved_names):
        raise UsageError(
            f"{path} was trained on classes {saved_names} but the data has {list(class_names)}: "
            "use the crop folder the checkpoint was trained on, or train a new run folder"
        )
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as exc:
        raise UsageError(
            f"{path} does not fit this model ({str(exc).splitlines()[0]} ...): build the same architecture "
            f"as the checkpoint's config (model={checkpoint['config'].get('model')!r})"
        ) from exc


def checkpoint_path(run_or_file: str | Path) -> Path:
    """The best.pt of a run folder, or the checkpoint file itself."""
    path = Path(run_or_file)
    return path / "best.pt" if path.is_dir() else path


def checkpoint_input(checkpoint: dict, path: str | Path) -> ClassifierInput:
    """The ClassifierInput a checkpoint recorded (an error naming the file when it has none)."""
    return ClassifierInput.from_dict(checkpoint.get("input"), path)


def load_trained_classifier(run_or_file: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild a trained classifier (eval mode, CPU) from a run folder or checkpoint; returns (model, checkpoint)."""
    path = checkpoint_path(run_or_file)
    checkpoint = read_checkpoint(path)
    config = checkpoint.get("config") or {}
    name = config.get("model")
    if not name:
        raise UsageError(f"{path} does not name its architecture (config.model): train it with fallkd")
    size = (checkpoint.get("input") or {}).get("image_size", config.get("image_size"))
    model = create_classifier(
        str(name), int(checkpoint["num_classes"]), image_size=size if name in VIT_NAMES else None
    )
    load_model_state(path, checkpoint, model)
    return model.eval(), checkpoint
