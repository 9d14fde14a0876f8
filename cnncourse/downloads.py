"""The download policy shared by data sets and pretrained weights: when a download is even tried.

Scope: one rule, ``download_when_allowed``. ``download=None`` (the default of
``cnncourse.data.load`` and ``cnncourse.pretrained.weights_path``) tries only
where the target folder can be written and the server answers within 2 s, so a
notebook on an offline machine or a read-only hub mount fails fast with a clear
message instead of hanging; ``True`` always tries; ``False`` never does.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["NETWORK_TIMEOUT_S", "download_when_allowed", "network_available", "writable"]

NETWORK_TIMEOUT_S = 2.0


def writable(folder: Path) -> bool:
    """Whether ``folder``, or the nearest of its parents that exists, can be written to by this user.

    Example:
        >>> writable(Path("/etc/hostname/inside"))  # its nearest existing parent is a file
        False
    """
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK)
    return False


@functools.lru_cache(maxsize=None)
def network_available(host: str) -> bool:
    """Whether host accepts a connection within 2 s (DNS included); remembered for the process.

    Example:
        >>> network_available("")  # no host: nothing to reach
        False
    """
    if not host:
        return False
    answer: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=NETWORK_TIMEOUT_S):
                answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(NETWORK_TIMEOUT_S)
    return bool(answer and answer[0])


def download_when_allowed(download: bool | None, folder: Path, host: str, fetch: Callable[[], object]) -> str:
    """Run ``fetch`` unless ``download`` forbids it; returns "" on success, else why nothing was downloaded.

    ``download=None`` (automatic) tries only when ``folder`` is writable and ``host``
    answers; ``True`` always tries; ``False`` never does.

    Example:
        >>> download_when_allowed(False, Path("/tmp"), "example.org", lambda: None)
        'download=False was passed'
        >>> download_when_allowed(True, Path("/tmp"), "example.org", lambda: None)
        ''
    """
    if download is False:
        return "download=False was passed"
    if download is None:
        if not writable(folder):
            return f"{folder} is read-only for you"
        if not network_available(host):
            return f"the download server {host} did not answer within {NETWORK_TIMEOUT_S:g} s (no network?)"
    try:
        fetch()
    except Exception as err:  # network, disk, hash and torchvision errors of many kinds; reported in one message
        return f"the download failed ({type(err).__name__}: {err})"
    return ""
