"""Person-crop datasets and loaders for the classifier: ImageFolder layout, (image, label, index) items.

The crop folder is `crops/{train,val,test}/{class}/*.jpg`, written by `fallkd crops`. Classes are the folder names
sorted (ImageFolder's rule), so for fall/normal 0 = fall and 1 = normal. Each item is `(image, label, index)`
where `index` is the sample's stable position in `dataset.samples`, so a batch is `(images, labels, ids)` and
per-sample results (teacher logits, wrong predictions) can be traced back to a file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms import v2

from fallkd_lib.config import AUGMENTS
from fallkd_lib.data.imageio import open_rgb
from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.train.augment import camera_augment

SPLITS = ("train", "val", "test")


def _class_dirs(folder: Path) -> dict[str, list[Path]]:
    """Images per class sub-folder, both sorted, as ImageFolder would see them."""
    return {
        d.name: sorted(
            p
            for p in d.iterdir()
            if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS and not p.name.startswith(".")
        )
        for d in sorted(folder.iterdir())
        if d.is_dir() and not d.name.startswith(".")
    }


class CropDataset(Dataset):
    """One split of a crop folder; items are `(image, label, index)` (see the module docstring)."""

    def __init__(self, root: str | Path, split: str, transform: Callable | None = None) -> None:
        self.root = Path(root)
        self.split = split
        self.transform = transform
        folder = self.root / split
        if not folder.is_dir():
            raise MissingFileError(
                f"crop folder {folder} not found: make the crops first with `fallkd crops` "
                f"(expected {self.root}/{{{','.join(SPLITS)}}}/<class>/*.jpg)"
            )
        per_class = _class_dirs(folder)
        empty = [name for name, files in per_class.items() if not files]
        if empty:
            raise UsageError(
                f"{folder}: class folder(s) {empty} hold no images; delete them or re-run `fallkd crops`"
            )
        if len(per_class) < 2:
            found = list(per_class) or "none"
            missing = sorted(self._sibling_classes() - set(per_class)) or ["a second class"]
            raise UsageError(
                f"{folder}: a classifier needs at least 2 classes, found {found}, missing {missing}; "
                "re-run `fallkd crops` on a dataset with both fall and normal boxes in every split"
            )
        self.classes: list[str] = list(per_class)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self._files = [(path, self.class_to_idx[name]) for name, files in per_class.items() for path in files]
        self.samples: list[str] = [path.relative_to(self.root).as_posix() for path, _ in self._files]
        self.targets: list[int] = [label for _, label in self._files]

    def _sibling_classes(self) -> set[str]:
        """Class names found in the other splits (to say which class a split lacks)."""
        return {
            d.name
            for split in SPLITS
            if split != self.split and (self.root / split).is_dir()
            for d in (self.root / split).iterdir()
            if d.is_dir() and not d.name.startswith(".")
        }

    def __len__(self) -> int:
        return len(self._files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        path, label = self._files[index]
        image = open_rgb(path)
        return (self.transform(image) if self.transform else image), label, index

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in class_counts(self).items())
        return f"CropDataset({self.root / self.split}: {len(self)} crops, {counts})"


def class_counts(dataset: CropDataset) -> dict[str, int]:
    """Number of crops per class name, in class order."""
    counts = Counter(dataset.targets)
    return {name: counts.get(i, 0) for i, name in enumerate(dataset.classes)}


def build_transforms(
    image_size: int,
    train: bool,
    mean: Sequence[float],
    std: Sequence[float],
    augment: str = "basic",
) -> v2.Compose:
    """PIL -> normalised float tensor [3, S, S]; train adds a mild crop/flip/colour augmentation.

    mean and std are the model's own (fallkd_lib.models.input_stats): the camera normalises with the same ones.
    augment="camera" adds the other cameras' looks (fallkd_lib.train.augment) to train only; eval never augments.
    """
    if augment not in AUGMENTS:
        raise UsageError(f"augment={augment!r}: choose one of {', '.join(AUGMENTS)}")
    if train:
        geometry = [
            # crops are letterboxed squares already: keep most of the person and an almost square aspect
            v2.RandomResizedCrop(image_size, scale=(0.7, 1.0), ratio=(0.9, 1.1), antialias=True),
            v2.RandomHorizontalFlip(),  # a fall to the left is still a fall; never flip vertically
            v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2),
        ]
        if augment == "camera":
            geometry.append(camera_augment())  # on uint8, before ToDtype/Normalize
    else:
        geometry = [v2.Resize((image_size, image_size), antialias=True)]
    return v2.Compose(
        [
            v2.ToImage(),
            *geometry,
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=list(mean), std=list(std)),
        ]
    )


def make_loaders(
    crops_dir: str | Path,
    image_size: int,
    batch_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    workers: int = 2,
    seed: int = 0,
    augment: str = "basic",
) -> dict[str, DataLoader]:
    """DataLoaders for train (shuffled, augmented as `augment` says) and val/test (fixed order); test is optional.

    The train loader owns a seeded `torch.Generator` (`loader.generator`); `fit` re-seeds it at every epoch from
    (seed, epoch), so the shuffle order and the workers' augmentation seeds depend on the epoch only.
    """
    crops_dir = Path(crops_dir)
    if not crops_dir.is_dir():
        raise MissingFileError(f"crop folder {crops_dir} not found: make it with `fallkd crops`")
    cuda = torch.cuda.is_available()
    loaders: dict[str, DataLoader] = {}
    classes: list[str] | None = None
    for split in SPLITS:
        if split == "test" and not (crops_dir / split).is_dir():
            continue
        train = split == "train"
        dataset = CropDataset(crops_dir, split, build_transforms(image_size, train, mean, std, augment))
        if classes is not None and dataset.classes != classes:
            raise UsageError(
                f"{crops_dir / split} has classes {dataset.classes} but train has {classes}: "
                "every split needs the same class folders; re-run `fallkd crops`"
            )
        classes = dataset.classes
        loaders[split] = DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train,
            drop_last=False,
            num_workers=workers,
            pin_memory=cuda,
            persistent_workers=cuda and workers > 0,
            generator=torch.Generator().manual_seed(seed) if train else None,
        )
    return loaders
