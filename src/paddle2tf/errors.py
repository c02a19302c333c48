"""Errors with documented exit codes.

Exit codes of the CLI: 0 every output passed (warn allowed), 1 parity failure,
2 bad input, bad usage or an unsupported model (and an unexpected error inside a stage: one line too).
"""

EXIT_OK = 0
EXIT_PARITY = 1
EXIT_BAD_INPUT = 2


class Paddle2TFError(Exception):
    """Base class: a failure the user should see as one line, with an exit code."""

    exit_code = EXIT_BAD_INPUT


class BadInputError(Paddle2TFError):
    """Missing/corrupt files, bad input specs, feeds that do not match the model."""


class ExportError(Paddle2TFError):
    """paddle2onnx could not export the Paddle model (or crashed doing it)."""


class UnsupportedModelError(Paddle2TFError):
    """The ONNX graph uses ops (or op variants) the converter does not support."""


class InternalError(Paddle2TFError):
    """An unexpected exception inside a stage (a paddle2tf bug or an input no check foresaw): one line naming the
    stage and the exception, exit 2, never a traceback without --debug and never the parity exit code."""


class ParityError(Paddle2TFError):
    """Verification found outputs out of tolerance."""

    exit_code = EXIT_PARITY
