"""``python -m paddle2tf`` and the ``paddle2tf`` command."""

import signal
import sys


def run() -> None:
    """The command line. The commands' libraries load first (a second or more); a Ctrl-C meanwhile ends the
    process as one interrupted during a command does: one line and exit 130, not a traceback."""
    try:
        from paddle2tf.pipeline.commands import main
    except KeyboardInterrupt:
        sys.stderr.write("paddle2tf: interrupted\n")
        sys.exit(128 + signal.SIGINT)
    main()


if __name__ == "__main__":
    run()
