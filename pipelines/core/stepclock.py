"""Wall seconds per step of a stage's transformation, reported in the run's metrics as ``seconds.<step>``
(the stage returns them under ``pipelines.core.contract.STAGE_METRICS``; the CLI summary prints them)."""
from __future__ import annotations

import time


class StepClock:
    """Wall seconds per step, in the order the steps ran: ``lap(step)`` closes the step that began at the
    previous lap (or at construction)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = round(self.seconds.get(step, 0.0) + now - self._t, 3)
        self._t = now

    def metrics(self) -> dict[str, float]:
        return {f"seconds.{step}": s for step, s in self.seconds.items()}
