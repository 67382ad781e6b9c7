"""Progress of long offline work (imports, compaction, rebuild, simulation), told to whoever asked.

The library calls a `Progress` callback with a `ProgressStep` as its work advances; it draws nothing
(the CLI draws a bar on a terminal, `evlog._cli`). A step names its task ("reading captures",
"merging partitions"), how much of it is done and of how much, in a unit: a caller shows the
latest step of each task. Steps of one task come in order, its last has `done == total`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressStep:
    task: str  # what is being done, for people: "reading captures"
    done: int
    total: int | None  # None: not known beforehand (stdin)
    unit: str  # what `done` counts: "bytes", "partitions", "records", "days"


Progress = Callable[[ProgressStep], None]


def quiet(step: ProgressStep) -> None:
    """The default `Progress`: tell nobody."""
