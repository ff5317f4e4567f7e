"""Where the course lives online: the repository URL, and from it every notebook's Colab, Kaggle and Binder links.

The URL has one home, `[project.urls] Repository` in pyproject.toml. A fork changes that line and runs
`python scripts/badges.py`, which rewrites each notebook's badge cell and hosted-setup cell from the functions here
and prints the README's course table. Colab and Binder open a notebook straight from GitHub; Kaggle imports it from
its raw file.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from fallkd_lib.errors import UsageError

BRANCH = "main"
NOTEBOOKS_DIR = "notebooks"
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
KAGGLE_BADGE = "https://kaggle.com/static/images/open-in-kaggle.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
_GITHUB = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")


def _url_from_pyproject(path: Path) -> str | None:
    """[project.urls] Repository of a pyproject.toml, or None when it has none."""
    try:
        import tomllib
    except (
        ModuleNotFoundError
    ):  # Python 3.10: read the one line (the section is written by hand, one key a line)
        section = re.search(r"^\[project\.urls\]\s*$(.*?)(?=^\[|\Z)", path.read_text(), re.M | re.S)
        found = section and re.search(r'^Repository\s*=\s*"([^"]+)"', section.group(1), re.M)
        return found.group(1) if found else None
    with path.open("rb") as f:
        return tomllib.load(f).get("project", {}).get("urls", {}).get("Repository")


def _url_from_metadata() -> str | None:
    """The Repository URL of the installed fallkd_lib's metadata (a wheel install has no pyproject beside it)."""
    try:
        entries = metadata.metadata("fallkd_lib").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    urls = dict(entry.split(", ", 1) for entry in entries if ", " in entry)
    return urls.get("Repository")


def repository_url(pyproject: str | Path | None = None) -> str:
    """The course's GitHub repository, https://github.com/<org>/<repo>, from pyproject.toml's [project.urls]."""
    path = Path(pyproject) if pyproject is not None else PYPROJECT
    url = _url_from_pyproject(path) if path.is_file() else _url_from_metadata()
    if not url:
        raise UsageError(
            f'no repository URL: add `Repository = "https://github.com/<org>/<repo>"` under [project.urls] in '
            f"{path}, then run `python scripts/badges.py`"
        )
    if not _GITHUB.match(url):
        raise UsageError(
            f"repository URL {url!r} (from {path}) is not https://github.com/<org>/<repo>: Colab and Binder open "
            "notebooks from GitHub only"
        )
    return url.rstrip("/").removesuffix(".git")


def github_repo(url: str | None = None) -> tuple[str, str]:
    """(org, repo) of a GitHub URL (default: repository_url())."""
    url = url or repository_url()
    found = _GITHUB.match(url)
    if not found:
        raise UsageError(f"{url!r} is not a GitHub repository URL (https://github.com/<org>/<repo>)")
    return found.group(1), found.group(2)


def notebook_stem(notebook: str | Path) -> str:
    """'03_classifier_baselines' from that name, its .ipynb / .py file name or its path."""
    name = Path(notebook).name
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix in (".ipynb", ".py") else name
    if not stem or stem.startswith("."):
        raise UsageError(
            f"{notebook!r} does not name a notebook (e.g. '01_data' or 'notebooks/01_data.ipynb')"
        )
    return stem


def _path_in_repo(notebook: str | Path) -> str:
    return f"{NOTEBOOKS_DIR}/{notebook_stem(notebook)}.ipynb"


def colab_url(notebook: str | Path) -> str:
    """The link that opens the notebook from GitHub in Google Colab."""
    org, repo = github_repo()
    return f"https://colab.research.google.com/github/{org}/{repo}/blob/{BRANCH}/{_path_in_repo(notebook)}"


def raw_url(notebook: str | Path) -> str:
    """The notebook's raw .ipynb file on GitHub."""
    org, repo = github_repo()
    return f"https://raw.githubusercontent.com/{org}/{repo}/{BRANCH}/{_path_in_repo(notebook)}"


def kaggle_url(notebook: str | Path) -> str:
    """The link that imports the notebook into a new Kaggle notebook (from its raw file on GitHub)."""
    return f"https://kaggle.com/kernels/welcome?src={raw_url(notebook)}"


def binder_url(notebook: str | Path) -> str:
    """The link that builds the repository on mybinder.org (binder/) and opens the notebook in JupyterLab."""
    org, repo = github_repo()
    return f"https://mybinder.org/v2/gh/{org}/{repo}/{BRANCH}?labpath={_path_in_repo(notebook).replace('/', '%2F')}"


def badges_markdown(notebook: str | Path) -> str:
    """The notebook's badge line: Open in Colab, Open in Kaggle, Launch Binder (the first cell of every notebook)."""
    return (
        f"[![Open In Colab]({COLAB_BADGE})]({colab_url(notebook)}) "
        f"[![Open In Kaggle]({KAGGLE_BADGE})]({kaggle_url(notebook)}) "
        f"[![Launch Binder]({BINDER_BADGE})]({binder_url(notebook)})"
    )


SETUP_CELL = """\
# Colab and Kaggle only (on a laptop, in CI or on Binder this cell does nothing): fetch the course, install what the
# host lacks without touching its own torch, and keep data and runs where a new session finds them.
import os
import subprocess
import sys
from pathlib import Path

USE_DRIVE = True  # Colab: data/ and runs/ on your Google Drive (it asks once), so a new session resumes
if "google.colab" in sys.modules or "KAGGLE_KERNEL_RUN_TYPE" in os.environ:
    from IPython import get_ipython

    REPO = Path("fallkd").resolve()
    if not (REPO / "pyproject.toml").is_file():
        subprocess.run(["git", "clone", "-q", "--depth", "1", "{url}", str(REPO)], check=True)
    os.chdir(REPO)  # requirements.txt installs fallkd_lib from "."
    sys.path.insert(0, str(REPO))  # importable now, without restarting the kernel
    from fallkd_lib.course.host import keep_host_torch, persistent_storage  # standard library only

    # the %pip magic, written as a call so that it can sit in this `if`; -c keeps the host's torch and torchvision
    get_ipython().run_line_magic("pip", f"install -q -r requirements.txt -c {{keep_host_torch()}}")
    print(persistent_storage(USE_DRIVE) or "data/ and runs/ live in this session only")"""


def setup_cell_source() -> str:
    """The code of every notebook's first code cell (hosted install and storage), with this repository's URL."""
    return SETUP_CELL.format(url=repository_url())
