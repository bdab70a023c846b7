"""Driver-side progress for long steps that Spark's console bar does not cover (loading a model,
training FAISS k-means, solving an ILP).

    from pipelines.core.progress import progress

    with progress("loading open_clip ViT-B-32"):
        model = load(...)
    with progress("FAISS k-means", total=niter) as bar:
        for _ in range(niter):
            ...
            bar.update()

Prints ``<what> ...`` when the step starts and ``<what> done in 3.2s`` (or ``failed after``) when it
ends, to stderr, so stdout stays the CLI's summary. With ``total`` and tqdm installed it draws a tqdm
bar instead when stderr is a terminal (:func:`interactive`). ``LAKESIEVE_PROGRESS=false`` (the tests'
setting) silences it, as it does Spark's bar; ``true`` forces both bars on, even in a log file.
"""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import IO, Iterator


def _setting() -> bool | None:
    """``LAKESIEVE_PROGRESS`` as a bool, or None when it is not set."""
    value = os.environ.get("LAKESIEVE_PROGRESS")
    if value is None or not value.strip():
        return None
    return value.strip().lower() not in ("false", "0", "no", "off")


def enabled() -> bool:
    """Whether to print the start / done lines (on unless ``LAKESIEVE_PROGRESS`` is false)."""
    setting = _setting()
    return True if setting is None else setting


def interactive(stream: IO[str] | None = None) -> bool:
    """Whether to draw redrawn bars (tqdm, Spark's console bar) on ``stream`` (default stderr).

    ``LAKESIEVE_PROGRESS`` decides when set; otherwise only a terminal gets them: in a log file (an
    Airflow task, CI, ``make demo > log``) every redraw would be another line."""
    setting = _setting()
    if setting is not None:
        return setting
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    """What ``progress`` yields: ``update(n)`` counts finished units of ``total``."""

    def __init__(self, what: str, total: int | None, stream: IO[str], bar=None):
        self.what, self.total, self.stream, self._bar = what, total, stream, bar
        self.done = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)


@contextmanager
def progress(what: str, *, total: int | None = None, stream: IO[str] | None = None,
             show: bool | None = None) -> Iterator[Progress]:
    """Report the start, the end and the elapsed time of a driver-side step (see the module docstring)."""
    out = stream if stream is not None else sys.stderr
    draw = show is True or (show is None and interactive(out))  # show=True forces the bar too
    show = enabled() if show is None else show
    bar = None
    if show and draw and total is not None:
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            bar = tqdm(total=total, desc=what, file=out, leave=True, dynamic_ncols=True)
    if show and bar is None:
        print(f"{what} ...", file=out, flush=True)
    tracker = Progress(what, total, out, bar)
    start = time.perf_counter()
    ok = False
    try:
        yield tracker
        ok = True
    finally:
        elapsed = time.perf_counter() - start
        if bar is not None:
            bar.close()
        if show:
            count = f" ({tracker.done}/{total})" if total is not None else ""
            print(f"{what} {'done in' if ok else 'failed after'} {elapsed:.1f}s{count}", file=out, flush=True)
