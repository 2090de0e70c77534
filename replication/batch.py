"""Folder commands: one unreadable file is reported and skipped; the summary and exit status come at the end."""

from __future__ import annotations

import errno
import logging
import sys

from tqdm import tqdm

log = logging.getLogger("replication")


class BatchFailures:
    """Collect per-file errors of a folder run (``upscale``, ``metrics``, ``evaluate``, ``synthesize``)."""

    def __init__(self, command: str):
        self.command = command
        self.messages: list[str] = []

    def add(self, exc: BaseException, source: object = None) -> None:
        """Record one failure; ``source`` (the file) is prefixed when the message does not name it.

        A full disk is not a per-file problem: it is re-raised, so the run stops and its partial
        output is removed instead of being published with the files that still fitted."""
        if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
            raise exc
        message = str(exc)
        if source is not None and str(source) not in message:
            message = f"{source}: {message}"
        self.messages.append(message)
        # tqdm.write keeps an active progress bar intact.
        tqdm.write(f"error: {message} (skipped; the other files go on)", file=_stream())

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
    return sys.stderr  # looked up at call time (tests and the CLI replace it)
