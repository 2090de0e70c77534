"""Folder commands: one unreadable file is reported and skipped; the summary and exit status come at the end."""

from __future__ import annotations

import logging

from tqdm import tqdm

log = logging.getLogger("replication")


class BatchFailures:
    """Collect per-file errors of a folder run (``upscale``, ``metrics``, ``evaluate``, ``synthesize``)."""

    def __init__(self, command: str):
        self.command = command
        self.messages: list[str] = []

    def add(self, exc: BaseException) -> None:
        self.messages.append(str(exc))
        # tqdm.write keeps an active progress bar intact.
        tqdm.write(f"error: {exc} (skipped; the other files go on)", file=_stream())

    def finish(self, total: int) -> int:
        """Log the summary; the exit status: 1 if any file failed, else 0."""
        if not self.messages:
            return 0
        log.error(f"{self.command}: {len(self.messages)} of {total} file(s) failed:")
        for message in self.messages:
            log.error(f"  {message}")
        return 1

    def __len__(self) -> int:
        return len(self.messages)


def _stream():
    import sys

    return sys.stderr
