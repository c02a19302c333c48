"""Files other users' processes read (TF Serving runs as its own user): the modes a normal file or folder
gets under the user's umask, not the 0700 / 0600 of ``tempfile``'s private creations (kept by a rename)."""

from __future__ import annotations

import os
import tempfile


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_shared_dir(parent: str, prefix: str) -> str:
    """A fresh folder in ``parent`` (name ``prefix`` + random), mode 0777 minus the umask (0755 under 022)."""
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    os.chmod(path, 0o777 & ~umask())
    return path


def share_file(path: str) -> None:
    """Mode 0666 minus the umask (0644 under 022) for a file made by ``tempfile.mkstemp``."""
    os.chmod(path, 0o666 & ~umask())
