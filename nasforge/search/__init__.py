"""Black-box search: studies and their storage, the one search loop, executors, evaluators, settings, comparisons.

The road reads top to bottom: :mod:`.settings` (one checked value) -> :mod:`.study` (configuration, objectives,
trials; :mod:`.storage` keeps them) -> :mod:`.loop` (ask, run, tell) -> :mod:`.executors` (where and on which
clock trials run) -> :mod:`.evaluators` (Request -> Result; the benchmark lookup is
:mod:`nasforge.benchmarks.blackbox`). :mod:`.compare` runs many seeds of it.
"""

from nasforge.search.executors import EXECUTORS, create_executor
from nasforge.search.loop import RunLimits, SearchOutcome
from nasforge.search.settings import SearchSettings
from nasforge.search.study import Study

__all__ = ["EXECUTORS", "RunLimits", "SearchOutcome", "SearchSettings", "Study", "create_executor"]
