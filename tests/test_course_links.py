"""The course's links (one repository URL in pyproject.toml) and the hosted set-up every notebook starts with."""

from __future__ import annotations

import sys
import types
from importlib import metadata
from pathlib import Path

import pytest

from fallkd_lib.course import host, links
from fallkd_lib.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]


def test_the_repository_url_comes_from_pyproject(tmp_path: Path) -> None:
    assert links.repository_url() == "https://github.com/fallkd/fallkd"
    fork = tmp_path / "pyproject.toml"
    fork.write_text(
        '[project]\nname = "x"\n\n[project.urls]\nRepository = "https://github.com/me/my-fallkd.git"\n'
    )
    assert links.repository_url(fork) == "https://github.com/me/my-fallkd"
    assert links.github_repo(links.repository_url(fork)) == ("me", "my-fallkd")


def test_a_missing_or_non_github_url_is_an_error_that_says_where(tmp_path: Path) -> None:
    bare = tmp_path / "pyproject.toml"
    bare.write_text('[project]\nname = "x"\n')
    with pytest.raises(UsageError, match=r"\[project.urls\]"):
        links.repository_url(bare)
    bare.write_text('[project.urls]\nRepository = "https://gitlab.com/me/fallkd"\n')
    with pytest.raises(UsageError, match="GitHub"):
        links.repository_url(bare)


def test_links_of_a_notebook() -> None:
    for name in ("01_data", "01_data.ipynb", "notebooks/01_data.py", Path("notebooks/01_data.ipynb")):
        assert links.notebook_stem(name) == "01_data"
    assert links.colab_url("01_data") == (
        "https://colab.research.google.com/github/fallkd/fallkd/blob/main/notebooks/01_data.ipynb"
    )
    assert links.kaggle_url("01_data") == (
        "https://kaggle.com/kernels/welcome?src="
        "https://raw.githubusercontent.com/fallkd/fallkd/main/notebooks/01_data.ipynb"
    )
    assert links.binder_url("01_data") == (
        "https://mybinder.org/v2/gh/fallkd/fallkd/main?labpath=notebooks%2F01_data.ipynb"
    )
    badges = links.badges_markdown("01_data.ipynb")
    for url in (links.colab_url("01_data"), links.kaggle_url("01_data"), links.binder_url("01_data")):
        assert f"]({url})" in badges
    with pytest.raises(UsageError):
        links.notebook_stem(".ipynb")


def test_the_setup_cell_clones_this_repository_and_does_nothing_here(monkeypatch) -> None:
    source = links.setup_cell_source()
    assert '"https://github.com/fallkd/fallkd"' in source
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr("subprocess.run", lambda *a, **k: pytest.fail("the setup cell ran a command locally"))
    namespace: dict = {}
    exec(compile(source, "setup cell", "exec"), namespace)
    assert namespace["USE_DRIVE"] is True and "REPO" not in namespace


def _fake_colab(monkeypatch) -> list[str]:
    mounted: list[str] = []
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mounted.append)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    return mounted


@pytest.fixture
def clean_storage_env(monkeypatch):
    for key in (*host.STORAGE_ENV, "KAGGLE_KERNEL_RUN_TYPE"):
        monkeypatch.setenv(key, "placeholder")  # recorded, so that teardown removes what the test sets
        monkeypatch.delenv(key)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    return monkeypatch


def test_the_setup_cell_on_colab_clones_installs_with_the_hosts_torch_and_mounts_drive(
    clean_storage_env, tmp_path: Path
) -> None:
    monkeypatch = clean_storage_env
    mounted = _fake_colab(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    commands: list[list[str]] = []

    def fake_clone(command: list[str], check: bool) -> None:
        commands.append(command)
        Path(command[-1]).mkdir()
        (Path(command[-1]) / "pyproject.toml").write_text("")

    magics: list[tuple[str, str]] = []
    monkeypatch.setattr("subprocess.run", fake_clone)
    monkeypatch.setattr(
        "IPython.get_ipython", lambda: types.SimpleNamespace(run_line_magic=lambda *a: magics.append(a))
    )
    exec(compile(links.setup_cell_source(), "setup cell", "exec"), {})
    assert commands == [
        ["git", "clone", "-q", "--depth", "1", links.repository_url(), str(tmp_path / "fallkd")]
    ]
    assert Path.cwd() == tmp_path / "fallkd"
    ((magic, line),) = magics
    assert magic == "pip" and line.startswith("install -q -r requirements.txt -c ")
    assert f"torch=={metadata.version('torch')}" in Path(line.split(" -c ")[1]).read_text().splitlines()
    assert mounted == [host.DRIVE_MOUNT]
    assert host.os.environ["FALLKD_RUNS"] == f"{host.DRIVE_MOUNT}/{host.DRIVE_FOLDER}/runs"


def test_keep_host_torch_pins_the_installed_builds(tmp_path: Path) -> None:
    pins = Path(host.keep_host_torch(tmp_path / "pins.txt")).read_text().splitlines()
    assert f"torch=={metadata.version('torch')}" in pins
    assert f"torchvision=={metadata.version('torchvision')}" in pins


def test_persistent_storage_per_host(clean_storage_env) -> None:
    monkeypatch = clean_storage_env
    assert host.hosted_on() is None
    assert host.persistent_storage(True) == {}
    assert "FALLKD_DATA" not in host.os.environ

    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    assert host.hosted_on() == "kaggle"
    assert host.persistent_storage(True) == {
        "FALLKD_DATA": "/kaggle/working/data",
        "FALLKD_RUNS": "/kaggle/working/runs",
    }
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE")
    for key in host.STORAGE_ENV:
        monkeypatch.delenv(key)

    mounted = _fake_colab(monkeypatch)
    assert host.hosted_on() == "colab"
    assert host.persistent_storage(False) == {} and mounted == []
    monkeypatch.setenv("FALLKD_DATA", "/content/my_data")  # set by the student: it wins
    assert host.persistent_storage(True, drive_folder="MyDrive/course") == {
        "FALLKD_DATA": "/content/my_data",
        "FALLKD_RUNS": "/content/drive/MyDrive/course/runs",
    }
    assert mounted == ["/content/drive"]


def test_badges_script_check_passes_on_the_committed_notebooks() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import badges
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert badges.main([str(ROOT / "notebooks"), "--check"]) == 0


def test_the_readme_course_table_links_are_rebuilt_from_the_repository_url() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import badges
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    stale = (
        "intro\n| [`01_data`](notebooks/01_data.ipynb) | merging, crops | [Colab](https://old.example/x) |\n"
        "| `not a row` | kept | as is |\n"
    )
    fixed = badges.readme_links(stale)
    row = fixed.splitlines()[1]
    assert row.startswith("| [`01_data`](notebooks/01_data.ipynb) | merging, crops | [Colab](")
    for url in (links.colab_url("01_data"), links.kaggle_url("01_data"), links.binder_url("01_data")):
        assert f"]({url})" in row
    assert "old.example" not in fixed and fixed.splitlines()[2] == "| `not a row` | kept | as is |"
    assert badges.readme_links(fixed) == fixed  # up to date: unchanged
