"""Teacher-logit cache: lookup by sample id survives shuffling, stale caches are refused, criteria behave."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from fallkd_lib.distill import (
    CachedKDCriterion,
    CrossEntropyCriterion,
    OnlineKDCriterion,
    cache_teacher_logits,
    dataset_fingerprint,
    kd_loss,
    load_teacher_cache,
    read_teacher_cache,
)
from fallkd_lib.distill.cache import transform_repr

N, BATCH = 40, 8
EVAL_TF = transforms.Compose(
    [transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))]
)


class TinyCrops(Dataset):
    """ImageFolder-like: root/<class>/*.png sorted; items are (image, label, index) (contract 1)."""

    def __init__(self, root: Path, transform: object = EVAL_TF, classes: list[str] | None = None) -> None:
        self.root, self.transform = Path(root), transform
        folders = sorted(d.name for d in self.root.iterdir() if d.is_dir())
        self.classes = classes or folders
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = [
            (str(p), i) for i, c in enumerate(folders) for p in sorted((self.root / c).glob("*.png"))
        ]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, int, int]:
        path, label = self.samples[index]
        with Image.open(path) as im:
            return self.transform(im.convert("RGB")), label, index


class PixelTeacher(nn.Module):
    """Logits = affine function of the image's first pixel: exact, batch-independent, counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor([2.0, -3.0]))
        self.bias = nn.Parameter(torch.tensor([0.5, 1.0]))
        self.dropout = nn.Dropout(0.5)  # would make outputs random if the teacher ever ran in train mode
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        return self.dropout(x[:, 0, 0, 0, None] * self.weight + self.bias)


def _write(path: Path, value: int, size: int = 4) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), (value, value, value)).save(path)


@pytest.fixture
def crops(tmp_path: Path) -> Path:
    """40 images, 20 per class; image id i (its dataset index) is a constant grey of 6*i/255."""
    root = tmp_path / "crops"
    for i in range(N):
        _write(root / ("fall" if i < N // 2 else "normal") / f"{i:02d}.png", 6 * i)
    return root


@pytest.fixture
def cached(crops: Path, tmp_path: Path) -> tuple[TinyCrops, PixelTeacher, Path]:
    dataset, teacher, path = TinyCrops(crops), PixelTeacher(), tmp_path / "cache" / "teacher.pt"
    cache_teacher_logits(teacher, dataset, path, batch_size=16, progress=False)
    return dataset, teacher, path


def test_dataset_items_encode_their_id(crops: Path) -> None:
    dataset = TinyCrops(crops)
    image, label, index = dataset[27]
    assert (label, index, tuple(image.shape)) == (1, 27, (3, 4, 4))
    assert torch.allclose(image, torch.full((3, 4, 4), (6 * 27 / 255 - 0.5) / 0.25))


def test_cache_file_holds_float32_logits_in_dataset_order(cached: tuple) -> None:
    dataset, teacher, path = cached
    assert teacher.calls == 3 and teacher.training  # ceil(40/16) batches; its train mode is restored
    assert sorted(p.name for p in path.parent.iterdir()) == ["teacher.pt"]  # no tmp file left behind
    cache = load_teacher_cache(path, dataset)
    assert cache.logits.dtype == torch.float32 and tuple(cache.logits.shape) == (N, 2)
    assert (len(cache), cache.num_classes, cache.teacher) == (N, 2, "PixelTeacher")
    teacher.eval()
    with torch.no_grad():
        expected = torch.cat([teacher(dataset[i][0][None]) for i in range(N)])
    assert torch.equal(cache.logits, expected)
    assert cache.fingerprint == dataset_fingerprint(dataset) and len(cache.fingerprint) == 64
    assert cache.created.endswith("+00:00")


def test_lookup_by_id_is_right_under_shuffling_and_batch_slicing_is_wrong(cached: tuple) -> None:
    dataset, teacher, path = cached
    criterion = CachedKDCriterion(load_teacher_cache(path, dataset), alpha=0.85, temperature=2.0)
    teacher.eval()
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(0))
    sliced_wrong, seen = 0, []
    for i, (images, labels, ids) in enumerate(loader):
        with torch.no_grad():
            truth = teacher(images)
        looked_up = criterion.teacher_logits(ids, images.device)
        assert torch.equal(looked_up, truth)
        student = torch.randn(len(ids), 2)
        got = criterion(student, labels, ids, images)
        want = kd_loss(student, truth, labels, 0.85, 2.0)
        assert all(torch.equal(got[k], want[k]) for k in ("loss", "task_loss", "kd_loss"))
        report_rows = criterion.cache.logits[i * BATCH : (i + 1) * BATCH]  # the reference report's indexing
        sliced_wrong += not torch.equal(report_rows, truth)
        seen += ids.tolist()
    assert sorted(seen) == list(range(N)) and seen != list(range(N))  # really shuffled
    assert sliced_wrong == N // BATCH  # every shuffled batch got another batch's teacher logits
    ordered = DataLoader(dataset, batch_size=BATCH, shuffle=False)
    for i, (images, _, _) in enumerate(ordered):  # slicing is only right when nothing is shuffled
        with torch.no_grad():
            assert torch.equal(criterion.cache.logits[i * BATCH : (i + 1) * BATCH], teacher(images))


def test_lookup_refuses_ids_outside_the_cache(cached: tuple) -> None:
    dataset, _, path = cached
    cache = load_teacher_cache(path, dataset)
    with pytest.raises(ValueError, match=r"0\.\.39"):
        cache.lookup(torch.tensor([3, 40]))
    with pytest.raises(ValueError, match="integer"):
        cache.lookup(torch.tensor([1.0]))
    with pytest.raises(ValueError, match="sample ids"):
        CachedKDCriterion(cache, 0.5, 2.0)(torch.zeros(2, 2), torch.tensor([0, 1]), None, None)


def test_matching_cache_is_reused_without_recompute(cached: tuple, capsys: pytest.CaptureFixture) -> None:
    dataset, teacher, path = cached
    calls = teacher.calls
    cache = cache_teacher_logits(teacher, dataset, path, batch_size=16, progress=True)
    assert teacher.calls == calls and len(cache) == N
    assert "reused, no recompute" in capsys.readouterr().out
    with torch.no_grad():
        teacher.bias[0] += 1.0  # other weights -> other logits -> recompute
    cache_teacher_logits(teacher, dataset, path, batch_size=16, progress=True)
    assert teacher.calls == calls + 3
    assert "stale (teacher weights differ): recomputing" in capsys.readouterr().out
    assert torch.equal(read_teacher_cache(path).logits[:, 0] - cache.logits[:, 0], torch.ones(N))


def _refusal(path: Path, dataset: TinyCrops) -> str:
    with pytest.raises(ValueError) as err:
        load_teacher_cache(path, dataset)
    message = str(err.value)
    assert "fallkd cache-teacher" in message and f"delete {path}" in message
    return message


def test_stale_cache_refused_when_a_file_changes_size(cached: tuple) -> None:
    dataset, _, path = cached
    target = Path(dataset.samples[5][0])
    before = target.stat().st_size
    _write(target, 30, size=12)
    assert target.stat().st_size != before
    message = _refusal(path, TinyCrops(dataset.root))
    assert f"1 file(s) changed size: fall/05.png ({before} -> {target.stat().st_size} bytes)" in message


def test_stale_cache_refused_when_a_file_is_added(cached: tuple) -> None:
    dataset, _, path = cached
    _write(dataset.root / "fall" / "19b.png", 200)
    message = _refusal(path, TinyCrops(dataset.root))
    assert "sample count: cache 40, dataset 41" in message and "1 file(s) added: fall/19b.png" in message


def test_stale_cache_refused_when_the_transform_changes(cached: tuple) -> None:
    dataset, _, path = cached
    other = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.4, 0.5, 0.5), (0.25, 0.25, 0.25))]
    )
    message = _refusal(path, TinyCrops(dataset.root, transform=other))
    assert "transform: cache" in message and "mean=(0.4, 0.5, 0.5)" in message
    assert "sample count" not in message and "file(s)" not in message


def test_loading_with_the_augmented_dataset_explains_what_to_pass(cached: tuple) -> None:
    dataset, _, path = cached
    augmented = transforms.Compose([transforms.RandomHorizontalFlip(), EVAL_TF])
    message = _refusal(path, TinyCrops(dataset.root, transform=augmented))
    assert "transform: cache 'Compose( ToTensor() Normalize(" in message  # one line, whitespace squeezed
    assert "load the cache with the EVAL-transform dataset" in message


def test_stale_cache_refused_when_class_names_change(cached: tuple) -> None:
    dataset, _, path = cached
    message = _refusal(path, TinyCrops(dataset.root, classes=["fallen", "normal"]))
    assert "class names: cache {'fall': 0, 'normal': 1}, dataset {'fallen': 0, 'normal': 1}" in message


def test_stale_cache_is_recomputed_by_cache_teacher_logits(
    cached: tuple, capsys: pytest.CaptureFixture
) -> None:
    dataset, teacher, path = cached
    _write(dataset.root / "normal" / "40.png", 240)
    bigger, calls = TinyCrops(dataset.root), teacher.calls
    cache = cache_teacher_logits(teacher, bigger, path, batch_size=16, progress=True)
    assert len(cache) == N + 1 and teacher.calls == calls + 3
    assert (
        "stale (sample count: cache 40, dataset 41; 1 file(s) added: normal/40.png)"
        in capsys.readouterr().out
    )
    assert len(load_teacher_cache(path, bigger)) == N + 1


def test_missing_or_corrupt_cache_file(crops: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="fallkd cache-teacher"):
        load_teacher_cache(tmp_path / "none.pt", TinyCrops(crops))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a cache")
    with pytest.raises(ValueError, match="not a readable fallkd teacher cache"):
        load_teacher_cache(bad, TinyCrops(crops))


def test_random_transform_warns(crops: Path, tmp_path: Path) -> None:
    augmented = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor()])
    with pytest.warns(UserWarning, match=r"random transforms \(RandomHorizontalFlip\)"):
        cache_teacher_logits(PixelTeacher(), TinyCrops(crops, augmented), tmp_path / "c.pt", progress=False)


def test_fingerprint_relative_paths_and_addresses(crops: Path) -> None:
    class Listing:  # the Protocol's minimum: relative paths, classes, transform
        def __init__(self, transform: object) -> None:
            self.root, self.classes, self.transform = crops, ["fall", "normal"], transform
            self.samples = [p.relative_to(crops).as_posix() for p in sorted(crops.rglob("*.png"))]

    def to_tensor(image: object) -> object:
        return image

    assert dataset_fingerprint(Listing(EVAL_TF)) == dataset_fingerprint(Listing(EVAL_TF))
    assert dataset_fingerprint(Listing(EVAL_TF)) != dataset_fingerprint(Listing(None))
    assert (
        " at 0x" in repr(to_tensor) and transform_repr(to_tensor) == repr(to_tensor).split(" at 0x")[0] + ">"
    )
    with pytest.raises(FileNotFoundError, match="gone.png"):
        listing = Listing(EVAL_TF)
        listing.samples.append("fall/gone.png")
        dataset_fingerprint(listing)


def test_cross_entropy_criterion() -> None:
    logits, labels = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])
    out = CrossEntropyCriterion()(logits, labels, torch.tensor([0, 1]), None)
    assert list(out) == ["loss"] and torch.equal(out["loss"], nn.functional.cross_entropy(logits, labels))
    smoothed = CrossEntropyCriterion(label_smoothing=0.1)(logits, labels)["loss"]
    assert torch.equal(smoothed, nn.functional.cross_entropy(logits, labels, label_smoothing=0.1))


def test_online_renormalisation_is_exact_on_a_hand_example() -> None:
    student_stats = ((0.5, 0.25, 0.75), (0.25, 0.5, 0.125))
    teacher_stats = ((0.0, 0.5, 0.5), (1.0, 0.25, 0.5))
    criterion = OnlineKDCriterion(PixelTeacher(), 0.85, 2.0, student_stats, teacher_stats)
    # raw pixel (0.75, 0.5, 0.25): student sees ((.75-.5)/.25, (.5-.25)/.5, (.25-.75)/.125) = (1, 0.5, -4)
    student_input = torch.tensor([1.0, 0.5, -4.0]).view(1, 3, 1, 1).expand(2, 3, 2, 2)
    # the teacher must see ((.75-0)/1, (.5-.5)/.25, (.25-.5)/.5) = (0.75, 0, -0.5)
    expected = torch.tensor([0.75, 0.0, -0.5]).view(1, 3, 1, 1).expand(2, 3, 2, 2)
    assert torch.equal(criterion.teacher_input(student_input), expected)
    same = OnlineKDCriterion(PixelTeacher(), 0.85, 2.0, student_stats, student_stats)
    assert same.teacher_input(student_input) is student_input
    with pytest.raises(ValueError, match=r"teacher_std=\(1.0, 0.0, 1.0\)"):
        OnlineKDCriterion(PixelTeacher(), teacher_stats=((0, 0, 0), (1.0, 0.0, 1.0)))


def test_online_teacher_stays_frozen_and_in_eval(crops: Path) -> None:
    torch.manual_seed(0)
    teacher, student = PixelTeacher(), nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    criterion = OnlineKDCriterion(
        teacher, 0.5, 2.0, ((0.5,) * 3, (0.25,) * 3), ((0.5,) * 3, (0.5,) * 3)
    ).train()
    assert criterion.training and not teacher.training
    images, labels, ids = next(iter(DataLoader(TinyCrops(crops), batch_size=BATCH, shuffle=True)))
    out = criterion(student(images), labels, ids, images)
    out["loss"].backward()
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert student[1].weight.grad is not None and student[1].weight.grad.abs().sum() > 0
    with torch.no_grad():
        truth = teacher(criterion.teacher_input(images))  # eval mode: dropout off, so repeatable
    want = kd_loss(student(images), truth, labels, 0.5, 2.0)
    again = criterion(student(images), labels, ids, images)
    assert all(torch.equal(again[k], want[k]) for k in ("loss", "task_loss", "kd_loss"))
    with pytest.raises(ValueError, match="batch images"):
        criterion(student(images), labels, ids, None)
