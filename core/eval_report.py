"""A run's evaluation report (`report.json` in its folder) as a typed `EvalReport`.

The report is written by training (`metrics.EvalReport.to_dict()`); pages and the
CLI read it back through `load_report`, never as a raw dict.
"""

import json

from core.errors import RunError
from core.i18n import _
from core.metrics import EvalReport

__all__ = ["EvalReport", "load_report"]


def load_report(folder, split: str = "validation") -> EvalReport | None:
    """The run's `EvalReport` of `split`, or None when the run has none (yet).

    Args:
        folder: the run's `store.RunFolder` (`RunStore.run_folder(run_id)`).
        split: "validation" or "test".

    Raises:
        RunError: the file exists but is not a readable report.
    """
    path = folder.report(split)
    if not path.is_file():
        return None
    try:
        return EvalReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunError(
            _("{path} is not a readable evaluation report ({error}).").format(path=path, error=exc)
        ) from exc
