"""The exceptions nasforge raises for problems a user can fix.

Every user-facing error derives from :class:`NasforgeError`. The CLI prints such an error as one
line and exits with code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Callable


class NasforgeError(Exception):
    """A problem with the user's input, files or configuration; the message says how to fix it."""


class ArchError(NasforgeError, ValueError):
    """An architecture, op name, arch string or index that is not valid in its search space."""


class DataError(NasforgeError, ValueError):
    """A missing, truncated or malformed data file or data directory."""


class BenchmarkError(DataError):
    """A benchmark store or benchmark source file that cannot be used, or a query it cannot answer."""


class StudyError(NasforgeError):
    """A study (search run) that cannot be created, resumed or read."""


class ConfigError(NasforgeError, ValueError):
    """An option value outside its valid range (budget <= 0, fraction outside (0, 1], ...)."""


class SettingError(ConfigError):
    """A setting with a value it cannot take. ``setting`` names it as the library does (``time_budget``), so a
    front end can name its own spelling of it (``--time-budget``); ``detail`` is the rest of the message, where
    ``{name}`` stands for another setting (:meth:`spelled` writes each name the front end's way)."""

    def __init__(self, setting: str, detail: str, *, whole: bool = False) -> None:
        # whole: ``detail`` is already a sentence that names the bad value (an unknown name and the known ones).
        self.setting, self.detail, self.whole = setting, detail, whole
        super().__init__(self.spelled(str))

    def spelled(self, spell: Callable[[str], str]) -> str:
        """The message with every setting name written as ``spell(name)`` (e.g. as a command-line flag)."""
        names = _Spelled(spell)
        detail = self.detail.format_map(names)
        return detail if self.whole else f"{spell(self.setting)} {detail}"


class _Spelled(dict):
    def __init__(self, spell: Callable[[str], str]) -> None:
        super().__init__()
        self.spell = spell

    def __missing__(self, key: str) -> str:
        return self.spell(key)


class TrainingDivergedError(RuntimeError):
    """The training loss became NaN or infinite; a search records the trial as FAIL."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of another library's exception message (at most ``limit`` characters; "" if it has
    none), for quoting it inside a one-line nasforge error."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else ""


class ProxyError(NasforgeError):
    """A zero-cost proxy that cannot give a usable (finite) score, or a store lacking the proxy scores asked for."""
