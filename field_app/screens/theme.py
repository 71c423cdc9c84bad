"""Colours, sizes and the live translator the ``.kv`` files use.

High contrast for reading in the sun (dark text on white, at least 4.5:1 everywhere, badges
with words as well as colours) and touch targets of at least 48 dp, most 56 dp, for gloves.
"""

from __future__ import annotations

from typing import Any

from kivy.event import Observable
from kivy.metrics import dp, sp

from field_app import i18n


def rgba(hex_colour: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    value = hex_colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return (r, g, b, alpha)


INK = rgba("#111827")  # body text: 17:1 on white
INK_SOFT = rgba("#374151")  # secondary text: 10:1
PAPER = rgba("#FFFFFF")
SURFACE = rgba("#F3F4F6")  # cards and grouped fields
LINE = rgba("#9CA3AF")
HINT = rgba("#6B7280")  # placeholder text in an empty box: 4.8:1
PRIMARY = rgba("#14532D")  # deep green: 10:1 with white
PRIMARY_DOWN = rgba("#0B3B1F")
ON_PRIMARY = PAPER
ACCENT = rgba("#FDE68A")  # highlight behind a selected chip
ERROR = rgba("#B91C1C")  # 6.5:1 on white
WARNING = rgba("#92400E")  # 7:1 on white
FOCUS = rgba("#2563EB")

# Record states: words on a coloured badge, never colour alone.
STATE_COLOURS: dict[str, tuple[float, float, float, float]] = {
    "pending": rgba("#B45309"),
    "synced": rgba("#15803D"),
    "safe": rgba("#047857"),  # synced, with the server's signed receipt: 5.5:1 with white
    "photos_pending": rgba("#9A3412"),  # waiting too, a shade apart from pending
    "returned": rgba("#1D4ED8"),
    "conflict": rgba("#7E22CE"),
    "rejected": rgba("#B91C1C"),
}


def state_colour(state: str) -> tuple[float, float, float, float]:
    return STATE_COLOURS.get(state, INK_SOFT)


TOUCH = dp(56)  # buttons, inputs, list rows
TOUCH_MIN = dp(48)
GAP = dp(12)
PAD = dp(16)
RADIUS = dp(8)
TEXT = sp(18)
TEXT_SMALL = sp(15)
TEXT_TITLE = sp(22)
TEXT_BIG = sp(28)


_WORDS = ("_", "ngettext")  # what a rule reads to choose its words: rerun on a language switch


class Translator(Observable):
    """``tr._("Home")`` in a ``.kv`` rule re-runs when the language changes (the kv compiler
    binds to ``_``; switching the language calls every bound rule again)."""

    def __init__(self) -> None:
        super().__init__()
        self._observers: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []
        i18n.add_listener(self._switched)

    def _(self, text: str) -> str:
        return i18n._(text)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        """``tr.ngettext("{n} record", "{n} records", n)``: the form for ``count``."""
        return i18n.ngettext(singular, plural, count)

    def fbind(self, name: str, func: Any, *largs: Any, **kwargs: Any) -> Any:
        if name in _WORDS:
            self._observers.append((func, largs, kwargs))
            return None
        return super().fbind(name, func, *largs, **kwargs)

    def funbind(self, name: str, func: Any, *largs: Any, **kwargs: Any) -> Any:
        if name in _WORDS:
            # Compared by identity: the arguments hold weak proxies that may be dead.
            self._observers = [
                o
                for o in self._observers
                if not (
                    o[0] is func
                    and len(o[1]) == len(largs)
                    and all(a is b for a, b in zip(o[1], largs, strict=True))
                )
            ]
            return None
        return super().funbind(name, func, *largs, **kwargs)

    def forget(self) -> None:
        """Drop every bound rule: their widgets belong to an app that has stopped (a rule
        that reads ``app`` would fail with no app running)."""
        self._observers = []

    def _switched(self, _code: str) -> None:
        alive = []
        for observer in self._observers:
            func, largs, _kwargs = observer
            try:
                func(*largs, None, None)
            except ReferenceError:
                continue  # the rule's widget is gone (a screen of an app that stopped)
            alive.append(observer)
        self._observers = alive


tr = Translator()
