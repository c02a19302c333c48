"""Paddle test models, saved once per session by a child process (no Paddle in the test process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PADDLE_MODELS = os.path.join(TESTS_DIR, "paddle_models.py")


def save_paddle_model(name: str, folder: str, legacy: bool = False) -> str:
    """Save test model NAME under FOLDER; returns the model file (model.json or model.pdmodel)."""
    os.makedirs(folder, exist_ok=True)
    prefix = os.path.join(folder, "model")
    proc = subprocess.run([sys.executable, PADDLE_MODELS, name, prefix, *(["--legacy"] if legacy else [])],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    json.loads(proc.stdout.strip().splitlines()[-1])
    return prefix + (".pdmodel" if legacy else ".json")


@pytest.fixture(scope="session")
def paddle_model(tmp_path_factory):
    cache: dict[tuple[str, bool], str] = {}

    def get(name: str, legacy: bool = False) -> str:
        if (name, legacy) not in cache:
            folder = tmp_path_factory.mktemp(f"{name}{'_legacy' if legacy else ''}")
            cache[(name, legacy)] = save_paddle_model(name, str(folder), legacy)
        return cache[(name, legacy)]

    return get
