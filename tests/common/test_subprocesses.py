"""The one line a failed child process becomes."""

from __future__ import annotations

from paddle2tf.common.subprocesses import explain_failure

# paddle2onnx 2.1.0 on a JSON that is not a Paddle program (exit 255), as its child printed it
PADDLE2ONNX_FAILURE = (
    "/usr/lib/python3.11/site-packages/paddle/utils/cpp_extension/extension_utils.py:712: UserWarning: No ccache "
    "found. Please be aware that recompiling all source files may be required.\n"
    "  warnings.warn(warning_message)\n"
    "[Paddle2ONNX] Start parsing the Paddle model file...\n"
    "\x1b[0;31m2026-12-04 17:40:07 [ERROR]\tFailed to convert PaddlePaddle model: (InvalidArgument) Invalid model "
    "file. (at /paddle/paddle/fluid/pir/serialize_deserialize/src/interface.cc:104)\n"
    ".\x1b[0m\n")


def test_a_library_error_log_line_is_the_reason_not_a_warning():
    assert explain_failure(255, PADDLE2ONNX_FAILURE) == (
        "the process exited with status 255: Failed to convert PaddlePaddle model: (InvalidArgument) Invalid model "
        "file. (at /paddle/paddle/fluid/pir/serialize_deserialize/src/interface.cc:104)")


def test_python_warnings_and_colour_codes_are_not_the_reason():
    output = ("Traceback (most recent call last):\nValueError: bad shape\n"
              "/x/y.py:3: DeprecationWarning: old API\n  warnings.warn(message)\n\x1b[0m\n")
    assert explain_failure(1, output) == "the process exited with status 1: ValueError: bad shape"


def test_the_child_s_own_error_line_wins():
    output = "paddle2tf-error: model.json: no such op\n[ERROR] something else\n"
    assert explain_failure(3, output) == "model.json: no such op"
