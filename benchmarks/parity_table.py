"""Convert the test model zoo end to end and print each model's three-way parity figures and stage times.

Usage: python benchmarks/parity_table.py [NAME ...]   (default: every model of the core issue)
Each model is built with seeded random weights (tests/helpers/paddle_models.py) in a child process, converted with
paddle2tf.app.api.convert, and verified on the default seeded inputs. Prints a markdown table and writes
parity_table.json beside the current directory.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
HELPERS = os.path.join(os.path.dirname(HERE), "tests", "helpers")  # paddle_models.py, paddle_fixtures.py
sys.path.insert(0, HELPERS)

DEFAULT_MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "vgg16", "densenet121",
                  "shufflenet_v2_x1_0", "squeezenet1_1", "inception_v3", "bert_like", "mlp", "norm_zoo"]


def main(names: list[str]) -> None:
    from paddle_fixtures import save_paddle_model

    from paddle2tf.app import api

    rows = []
    with tempfile.TemporaryDirectory(prefix="paddle2tf-parity-") as tmp:
        for name in names:
            model_file = save_paddle_model(name, os.path.join(tmp, name))
            report = api.convert(model_file, os.path.join(tmp, name, "out"), progress=lambda _: None)
            pairs = {key: max(o.pairs[key].max_rel for o in report.verification.outputs)
                     for key in report.verification.outputs[0].pairs}
            stages = {s.stage: s.seconds for s in report.stages}
            rows.append({"model": name, "verdict": report.verdict, **pairs, **stages})
            print(f"{name}: {report.verdict}", file=sys.stderr, flush=True)
    header = ["model", "verdict", "paddle_vs_onnxruntime", "paddle_vs_tensorflow", "onnxruntime_vs_tensorflow",
              "export", "convert", "verify"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [f"{row[h]:.2e}" if "_vs_" in h else (f"{row[h]:.1f} s" if h in ("export", "convert", "verify")
                                                      else str(row[h])) for h in header]
        print("| " + " | ".join(cells) + " |")
    with open("parity_table.json", "w") as handle:
        json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT_MODELS)
