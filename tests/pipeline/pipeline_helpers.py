"""Helpers for the pipeline tests: run the CLI, a webhook receiver, TF Serving's models.config schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli_env(**extra: str) -> dict:
    return {**os.environ, "PYTHONPATH": TESTS_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra}


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paddle2tf", *args], capture_output=True, text=True,
                          env=cli_env(**env), timeout=600)


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 collecting the JSON bodies POSTed to it."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append({"path": self.path, "json": json.loads(body)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def parse_models_config(text: str):
    """Parse REPO/models.config with protobuf's strict text-format parser against the ModelServerConfig schema.

    tensorflow-serving-api 2.21 would pull in the full ``tensorflow`` wheel over tensorflow-cpu (checked with
    ``pip install --dry-run``), so the subset of tensorflow_serving/config/model_server_config.proto that
    models.config uses is declared here with the same package, message names, field names and numbers.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="paddle2tf_test/model_server_config.proto",
                                               package="tensorflow.serving", syntax="proto3")

    def message(name, fields):
        msg = proto.message_type.add(name=name)
        for field_name, number, ftype, label, type_name in fields:
            field = msg.field.add(name=field_name, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name
        return msg

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    message("ModelConfig", [("name", 1, F.TYPE_STRING, opt, None), ("base_path", 2, F.TYPE_STRING, opt, None),
                            ("model_platform", 4, F.TYPE_STRING, opt, None)])
    message("ModelConfigList", [("config", 1, F.TYPE_MESSAGE, rep, ".tensorflow.serving.ModelConfig")])
    message("ModelServerConfig",
            [("model_config_list", 1, F.TYPE_MESSAGE, opt, ".tensorflow.serving.ModelConfigList")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.ModelServerConfig"))
    return text_format.Parse(text, cls())
