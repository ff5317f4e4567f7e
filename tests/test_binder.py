"""binder/requirements.txt installs what requirements.txt installs: the same packages with the same bounds, torch
from PyTorch's CPU index, and fallkd_lib itself from binder/postBuild (the one documented difference)."""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
ONLY_IN_REQUIREMENTS = {"-e ."}  # fallkd_lib: binder/postBuild runs `pip install --no-deps -e .`


def read(path: Path) -> tuple[dict[str, str], set[str]]:
    """{canonical package name: specifier} and the option lines (-e, -r, --index...) of a requirements file."""
    packages, options = {}, set()
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            options.add(line)
            continue
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name not in packages, f"{path}: {req.name} listed twice"
        packages[name] = str(req.specifier)
    return packages, options


def test_binder_installs_the_same_packages_with_the_same_bounds() -> None:
    main, main_options = read(ROOT / "requirements.txt")
    binder, binder_options = read(ROOT / "binder" / "requirements.txt")
    assert sorted(binder) == sorted(main)
    assert {name: spec for name, spec in binder.items() if spec != main[name]} == {}
    assert main_options - binder_options == ONLY_IN_REQUIREMENTS
    assert {"torch", "torchvision", "ultralytics", "timm"} <= set(binder)


def test_binder_takes_torch_from_the_cpu_index_and_installs_fallkd_in_postbuild() -> None:
    _, options = read(ROOT / "binder" / "requirements.txt")
    assert options == {CPU_INDEX}  # no -r ../requirements.txt: the package list is explicit and checked above
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps -e ." in post_build


def test_the_reader_sees_a_difference(tmp_path: Path) -> None:
    other = tmp_path / "requirements.txt"
    other.write_text("torch>=2.1  # a comment\nTimm>=1.0\n--extra-index-url x\n")
    packages, options = read(other)
    assert packages == {"torch": ">=2.1", "timm": ">=1.0"} and options == {"--extra-index-url x"}
