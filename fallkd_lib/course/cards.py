"""A notebook's results card: its key numbers, budgets and timings with the environment that produced them.

`results_card` writes `<folder>/<notebook>.json` atomically and shows the same card in the notebook's output
(mimetype CARD_MIMETYPE), so `fallkd collect` can check that the file a student hands in is the one the
notebook made. `read_card` reads a card back and checks its schema.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from fallkd_lib.course.provenance import environment_card
from fallkd_lib.errors import MissingFileError, UsageError
from fallkd_lib.io import write_json_atomic

SCHEMA = 1
CARD_MIMETYPE = "application/vnd.fallkd.card+json"
CARD_KEYS = ("notebook", "profile", "metrics", "budgets", "timings", "environment", "created", "schema")
RESULTS_ENV = "FALLKD_RESULTS"  # `fallkd course` points it at runs/<timestamp>/results


def results_folder() -> Path:
    """Where cards go: $FALLKD_RESULTS if set, else <runs dir>/results."""
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV])
    from fallkd_lib.settings import get_settings

    return get_settings().runs_dir / "results"


def to_jsonable(value: object, where: str = "value") -> object:
    """value as plain JSON types: numpy/pandas scalars and arrays, Series, DataFrames, Paths; NaN/inf become None."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return to_jsonable(value.to_dict(orient="index"), where)
    if isinstance(value, pd.Series):
        return to_jsonable(value.to_dict(), where)
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy scalars and arrays
        return to_jsonable(value.tolist(), where)
    raise UsageError(
        f"results card: {where} is a {type(value).__name__} ({value!r:.60}), which JSON cannot hold; "
        "pass numbers, strings, lists or dicts of them"
    )


def flatten(metrics: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """Nested dicts as one level, keys joined with '.': {"val": {"acc": 1}} -> {"val.acc": 1}."""
    flat: dict[str, object] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _check_name(notebook: str) -> None:
    if (
        not isinstance(notebook, str)
        or not notebook
        or any(c in notebook for c in "/\\")
        or notebook[0] == "."
    ):
        raise UsageError(
            f"results card: notebook must be the notebook's file name without .ipynb "
            f"(e.g. '03_classifier_baselines'), got {notebook!r}"
        )


def results_card(
    notebook: str,
    metrics: Mapping[str, object],
    *,
    profile: str,
    budgets: Mapping[str, object] | None = None,
    timings: Mapping[str, float] | None = None,
    folder: str | Path | None = None,
) -> pd.DataFrame:
    """Write <folder>/<notebook>.json, show the card in the notebook's output, return it as (metric, value) rows."""
    _check_name(notebook)
    if not isinstance(profile, str) or not profile:
        raise UsageError(
            f"results card of {notebook}: profile must be the notebook's PROFILE, got {profile!r}"
        )
    card = {
        "notebook": notebook,
        "profile": profile,
        "metrics": to_jsonable(dict(metrics), "metrics"),
        "budgets": to_jsonable(dict(budgets or {}), "budgets"),
        "timings": to_jsonable(dict(timings or {}), "timings"),
        "environment": environment_card(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "schema": SCHEMA,
    }
    path = write_json_atomic(Path(folder or results_folder()) / f"{notebook}.json", card)
    _display(card, f"fallkd results card {notebook} ({profile} profile): {path}")
    rows = flatten(card["metrics"])  # type: ignore[arg-type]
    return pd.DataFrame({"metric": list(rows), "value": list(rows.values())}, dtype=object)


def _display(card: dict, text: str) -> None:
    """Put the card in the notebook's output (a mimebundle collect finds); nothing outside IPython."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is None:
        return
    display({CARD_MIMETYPE: card, "text/plain": text}, raw=True)


def check_card(card: object, source: str) -> dict:
    """card itself when it is a results card of this schema; else a UsageError naming source and the problem."""
    if not isinstance(card, dict):
        raise UsageError(f"{source}: a results card is a JSON object, found {type(card).__name__}")
    missing = [key for key in CARD_KEYS if key not in card]
    if missing:
        raise UsageError(
            f"{source}: not a fallkd results card, missing {', '.join(missing)}; "
            "write it with fallkd_lib.course.cards.results_card (run the notebook again)"
        )
    if card["schema"] != SCHEMA:
        raise UsageError(
            f"{source}: results card schema {card['schema']!r}, this fallkd reads schema {SCHEMA}"
        )
    if not isinstance(card["metrics"], dict):
        raise UsageError(
            f"{source}: the card's metrics must be an object, found {type(card['metrics']).__name__}"
        )
    return card


def read_card(path: str | Path) -> dict:
    """Read a results card file and check its schema; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(
            f"results card {path} not found: run its notebook (or `fallkd course`) to write it"
        )
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(
            f"{path}: not valid JSON ({exc}); run its notebook again to rewrite the card"
        ) from exc
    return check_card(card, str(path))
