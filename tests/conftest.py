import os
import sys

import pytest

# Tests import the helper modules that live beside them.
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from paddle_fixtures import save_paddle_model  # noqa: E402  (needs the sys.path entry above)


@pytest.fixture(scope="session")
def paddle_model(tmp_path_factory):
    cache: dict[tuple[str, bool], str] = {}

    def get(name: str, legacy: bool = False) -> str:
        if (name, legacy) not in cache:
            folder = tmp_path_factory.mktemp(f"{name}{'_legacy' if legacy else ''}")
            cache[(name, legacy)] = save_paddle_model(name, str(folder), legacy)
        return cache[(name, legacy)]

    return get
