"""What to tell the user about a path they gave."""

from __future__ import annotations

import os


def folder_problem(folder: str, error: OSError) -> str:
    """Why ``folder`` could not be created or written in, naming the user's path (never a temporary one): an
    ancestor that is a file, else the operating system's reason for the nearest existing ancestor."""
    existing = os.path.abspath(folder)
    while not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return f"{existing} is a file, not a folder"
    return f"cannot create files in {existing} ({error.strerror or type(error).__name__})"
