"""The RQ job (RQ imports jobs by dotted name: ``jobs.rq_job``)."""

from __future__ import annotations

from loops import job_loop


def rq_job(url: str, tag: str, mode: str, iters: int) -> None:
    """Loops until RQ's worker kills the work horse."""
    job_loop(url, tag, mode, iters)
