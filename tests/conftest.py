import os
import sys

import pytest

# Tests import the helper modules that live beside them.
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from helpers.paddle_fixtures import save_paddle_model  # noqa: E402  (needs the sys.path entry above)


@pytest.fixture(scope="session")
def paddle_model(tmp_path_factory):
    cache: dict[tuple[str, bool], str] = {}

    def get(name: str, legacy: bool = False) -> str:
        if (name, legacy) not in cache:
            folder = tmp_path_factory.mktemp(f"{name}{'_legacy' if legacy else ''}")
            cache[(name, legacy)] = save_paddle_model(name, str(folder), legacy)
        return cache[(name, legacy)]

    return get


@pytest.fixture(scope="session")
def bert_small_out(paddle_model, tmp_path_factory):
    """A bert_small conversion at opset 17 (LayerNormalization nodes), unverified: model.onnx, paddle/, saved_model/."""
    from paddle2tf.app import api
    from paddle2tf.app.options import ConvertOptions

    out = tmp_path_factory.mktemp("bert_small_opset17") / "out"
    api.convert(paddle_model("bert_small"), str(out), ConvertOptions(opset=17, verify=False), progress=lambda _: None)
    return out


@pytest.fixture(scope="session")
def resnet18_onnx(paddle_model, tmp_path_factory):
    """resnet18 exported to ONNX (opset 13) by paddle2onnx in a child process."""
    from paddle2tf.frontend.export import export_paddle
    from paddle2tf.frontend.sources import resolve_source

    folder = tmp_path_factory.mktemp("resnet18_onnx")
    return export_paddle(resolve_source(paddle_model("resnet18"), ()), str(folder)).onnx_path
