"""The ``paddle2tf pipeline`` and ``paddle2tf repo`` subcommands, and the ``paddle2tf`` command's entry point (the
app's CLI with these added: the pipeline sits above the app)."""

from __future__ import annotations

import argparse

from paddle2tf.app import cli
from paddle2tf.errors import EXIT_OK
from paddle2tf.pipeline.config import load_pipeline
from paddle2tf.pipeline.repository import Repository, render_list, render_show
from paddle2tf.pipeline.runner import run_pipeline


def add_parsers(sub) -> None:
    pipe = sub.add_parser("pipeline", help="run a declarative conversion pipeline (CI/CD)")
    pipe_sub = pipe.add_subparsers(dest="pipeline_command", required=True)
    run = pipe_sub.add_parser("run", help="convert, verify and publish every model of a pipeline file")
    run.add_argument("pipeline_file", metavar="pipeline.yaml")
    run.add_argument("--jobs", "-j", type=int, default=1, help="models converted in parallel (default 1)")
    run.add_argument("--only", nargs="+", action="extend", default=None, metavar="NAME",
                     help="run only these models (repeatable)")
    val = pipe_sub.add_parser("validate", help="check a pipeline file against the schema")
    val.add_argument("pipeline_file", metavar="pipeline.yaml")

    repo = sub.add_parser("repo", help="inspect a published model repository (TF Serving layout)")
    repo_sub = repo.add_subparsers(dest="repo_command", required=True)
    lst = repo_sub.add_parser("list", help="published models and versions")
    lst.add_argument("repository", metavar="REPO")
    show = repo_sub.add_parser("show", help="one published version: manifest and metrics")
    show.add_argument("repository", metavar="REPO")
    show.add_argument("name")
    show.add_argument("version", nargs="?", type=int)


def run_command(args: argparse.Namespace) -> int:
    if args.command == "pipeline":
        pipeline = load_pipeline(args.pipeline_file)
        if args.pipeline_command == "validate":
            print(f"{args.pipeline_file}: valid, {len(pipeline.models)} model(s): "
                  f"{', '.join(m.name for m in pipeline.models)}")
            return EXIT_OK
        return run_pipeline(pipeline, jobs=args.jobs, only=args.only)
    repo = Repository(args.repository)
    if args.repo_command == "list":
        print(render_list(repo))
    else:
        print(render_show(repo, args.name, args.version))
    return EXIT_OK


PIPELINE_COMMANDS = cli.CommandGroup(("pipeline", "repo"), add_parsers, run_command)


def main(argv: list[str] | None = None) -> int:
    """``paddle2tf``: every subcommand."""
    return cli.main(argv, extensions=[PIPELINE_COMMANDS])
