"""What the app remembers between visits: the active dataset, augmentation and language.

Kept in `preferences.json` in the app home, so a reload, a new tab or a restarted
server opens on what was chosen last. Standard library only (pages import it).

Example:

    prefs = load_preferences()          # falls back to the demo if the folder is gone
    save_preferences(dataclasses.replace(prefs, dataset="/data/cats"))
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from core.i18n import _
from core.paths import app_home

DEMO = "demo"
FILE_NAME = "preferences.json"


@dataclass
class Preferences:
    """The last choices made on the Data and Augment pages.

    Attributes:
        dataset: "demo" or a dataset folder path.
        augment: an `AugmentConfig` as JSON, or None when none was chosen.
        language: the interface language chosen in the sidebar, or None.
        note: set by `load_preferences` when a remembered choice could not be kept.
    """

    dataset: str = DEMO
    augment: str | None = None
    language: str | None = None  # chosen in the sidebar ("en", "ko"); None: not chosen
    note: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "note"}

    @classmethod
    def from_dict(cls, data: dict) -> Preferences:
        return cls(
            dataset=str(data.get("dataset") or DEMO),
            augment=data.get("augment"),
            language=data.get("language"),
        )


def preferences_path() -> Path:
    return app_home() / FILE_NAME


def load_preferences() -> Preferences:
    """The remembered choices; the defaults when there are none or the file is unreadable.

    A remembered dataset folder that no longer exists gives way to the demo, with a
    `note` saying so (the file itself is left as it is until the next choice).
    """
    try:
        prefs = Preferences.from_dict(json.loads(preferences_path().read_text("utf-8")))
    except (OSError, ValueError, AttributeError):
        return Preferences()
    if prefs.dataset != DEMO and not Path(prefs.dataset).is_dir():
        prefs.note = _(
            "The dataset used last ({path}) is no longer there: the demo set is active instead."
        ).format(path=prefs.dataset)
        prefs.dataset = DEMO
    return prefs


def save_preferences(prefs: Preferences) -> None:
    """Writes the choices atomically (a reader never sees half a file)."""
    path = preferences_path()
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(prefs.to_dict(), indent=2), "utf-8")
    partial.replace(path)
