"""Save Paddle test models from a child process (Paddle never shares the test process with TensorFlow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HELPERS_DIR = os.path.dirname(os.path.abspath(__file__))  # on a child's PYTHONPATH: `paddle_models:build_mlp` sources
TESTS_DIR = os.path.dirname(HELPERS_DIR)
PADDLE_MODELS = os.path.join(HELPERS_DIR, "paddle_models.py")


def save_paddle_model(name: str, folder: str, legacy: bool = False) -> str:
    """Save test model NAME under FOLDER; returns the model file (model.json or model.pdmodel)."""
    os.makedirs(folder, exist_ok=True)
    prefix = os.path.join(folder, "model")
    proc = subprocess.run([sys.executable, PADDLE_MODELS, name, prefix, *(["--legacy"] if legacy else [])],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    json.loads(proc.stdout.strip().splitlines()[-1])
    return prefix + (".pdmodel" if legacy else ".json")


LEGACY_PROGRAMS = os.path.join(HELPERS_DIR, "legacy_programs.py")


def save_legacy_program(name: str, folder: str) -> str:
    """Save legacy program NAME (helpers/legacy_programs.py) under FOLDER; returns its model.pdmodel."""
    os.makedirs(folder, exist_ok=True)
    prefix = os.path.join(folder, "model")
    proc = subprocess.run([sys.executable, LEGACY_PROGRAMS, name, prefix], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return prefix + ".pdmodel"
