"""Text laid out in terminal columns, where a Korean (wide) character takes two.

`str.ljust` and `textwrap` count characters, so Korean help and tables would run past
the terminal's width and out of line: these helpers count columns instead.
"""

from __future__ import annotations

import argparse
import gettext
import unicodedata


def display_width(text: str) -> int:
    """Terminal columns of `text`: wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, width: int) -> str:
    """`text` left-aligned in `width` terminal columns."""
    return text + " " * max(0, width - display_width(text))


def wrap(text: str, width: int) -> list[str]:
    """`text` (one paragraph) in lines of at most `width` columns, broken between words."""
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if line and display_width(candidate) > width:
            lines.append(line)
            candidate = word
        line = candidate
    return lines + ([line] if line else [])


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, wrapping help and descriptions by columns, not characters.

    Text of narrow characters only (English) is wrapped by argparse itself, as before.
    """

    def _split_lines(self, text, width):
        if display_width(text) == len(text):
            return super()._split_lines(text, width)
        return wrap(text, width)

    def _fill_text(self, text, width, indent):
        if display_width(text) == len(text):
            return super()._fill_text(text, width, indent)
        return "\n".join(indent + line for line in wrap(text, width - len(indent)))

    def _format_usage(self, usage, actions, groups, prefix):
        # argparse measures the "usage: " prefix in characters to indent the usage's next
        # lines: lay it out with a stand-in of spaces as wide, then put the words back.
        words = gettext.gettext("usage: ") if prefix is None else prefix
        stand_in = " " * display_width(words)
        text = super()._format_usage(usage, actions, groups, stand_in)
        return words + text[len(stand_in) :]
