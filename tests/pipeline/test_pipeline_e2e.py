"""The pipeline end to end: parallel workers, publishing (versions, manifests, models.config), alerts to a real
HTTP server, idempotence, crash safety during publish and two pipelines racing for the same repository."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from paddle2tf.errors import EXIT_OK, EXIT_PARITY
from paddle2tf.pipeline.repository import PUBLISH_DELAY_ENV, Repository

from helpers.cli import assert_clean_failure, cli_env, run_cli, tiny_onnx
from helpers.pipeline import WebhookReceiver, parse_models_config
from helpers.plugin_fixtures import CONV_FAULT, conv_onnx


def assert_complete_version(repo: str, name: str, version: int) -> dict:
    folder = os.path.join(repo, name, str(version))
    assert os.path.isfile(os.path.join(folder, "saved_model.pb"))
    assert os.path.isdir(os.path.join(folder, "variables"))
    extra = os.path.join(folder, "assets.extra")
    assert {"report.json", "report.html", "model.onnx", "manifest.json"} <= set(os.listdir(extra))
    with open(os.path.join(extra, "manifest.json")) as handle:
        manifest = json.load(handle)
    assert manifest["name"] == name and manifest["version"] == version
    assert len(manifest["source_sha256"]) == 64 and len(manifest["onnx_sha256"]) == 64
    assert manifest["tool"]["paddle2tf"] and manifest["tool"]["onnx"]
    assert manifest["metrics"]["verdict"] in ("pass", "warn")
    return manifest


def no_staging_left(repo: str) -> bool:
    return not [n for n in os.listdir(repo) if n.startswith(".staging-")]


def test_pipeline_end_to_end(paddle_model, tmp_path):
    tiny = tiny_onnx(tmp_path / "tiny.onnx")
    custom = tiny_onnx(tmp_path / "custom.onnx", "FancyActivation", "com.example")
    conv = conv_onnx(tmp_path / "conv.onnx")
    (tmp_path / "conv_fault.py").write_text(CONV_FAULT)  # a plugin perturbing node conv_a: ONNX → TF diverges
    repo = tmp_path / "repo"
    with WebhookReceiver() as hook:
        pipeline = tmp_path / "pipeline.yaml"
        pipeline.write_text(textwrap.dedent(f"""\
            repository: repo
            defaults: {{timeout_s: 300}}
            alerts:
              webhooks: ["{hook.url}", "http://127.0.0.1:9/unreachable"]
              alerts_file: alerts.jsonl
            models:
              - name: tiny
                source: {tiny}
                input_specs: ["x:float32:-1x8"]
              - name: custom_op
                source: {custom}
              - name: mlp
                source: {paddle_model("mlp")}
                preprocessing: none
              - name: pad1d_no_fixes
                source: {paddle_model("pad1d")}
                fixes: false
              - name: conv_fault
                source: {conv}
                plugins: [conv_fault.py]
            """))
        proc = run_cli("pipeline", "run", str(pipeline), "--jobs", "2")
        assert proc.returncode == EXIT_PARITY, proc.stdout[-3000:] + proc.stderr[-3000:]
        out = proc.stdout
        for line in ("[mlp] export ...", "[tiny] verify ...", "[tiny] published version 1",
                     "[mlp] published version 1", "[custom_op] FAILED in stage convert",
                     "[pad1d_no_fixes] FAILED in stage verify", "[conv_fault] FAILED in stage verify",
                     "summary: 2 passed, 3 failed",
                     "NOT delivered to http://127.0.0.1:9/unreachable"):
            assert line in out, out
        alerts = {a["json"]["model"]: a["json"] for a in hook.received}
    assert set(alerts) == {"custom_op", "pad1d_no_fixes", "conv_fault"}
    assert "com.example.FancyActivation" in alerts["custom_op"]["error"]
    assert alerts["custom_op"]["stage"] == "convert" and alerts["custom_op"]["report"] is None
    pad = alerts["pad1d_no_fixes"]
    assert pad["stage"] == "verify" and pad["hop"] == "paddle_to_onnx" and pad["verdict"] == "fail"
    assert pad["verdict_table"][0]["paddle_vs_onnxruntime"] > 1e-2
    assert os.path.isfile(pad["report"])
    fault = alerts["conv_fault"]
    assert fault["stage"] == "verify" and fault["hop"] == "onnx_to_tensorflow" and fault["verdict"] == "fail"
    assert fault["culprit"] == {"index": 0, "name": "conv_a", "op_type": "Conv", "domain": ""}
    assert "'conv_a'" in fault["locate_summary"]
    assert fault["error"].endswith("first diverging ONNX node 'conv_a' (Conv)"), fault["error"]
    with open(tmp_path / "alerts.jsonl") as handle:
        assert sorted(json.loads(line)["model"] for line in handle) == ["conv_fault", "custom_op", "pad1d_no_fixes"]
    with open(fault["report"]) as handle:  # the plugin is recorded: locate OUT_DIR would reuse it
        assert json.load(handle)["plugins"][0]["source"] == str(tmp_path / "conv_fault.py")

    repository = Repository(str(repo))
    assert repository.models() == ["mlp", "tiny"]  # failing models are never published
    tiny_manifest = assert_complete_version(str(repo), "tiny", 1)
    assert tiny_manifest["settings"]["input_specs"] == ["x:float32:-1x8"]
    assert assert_complete_version(str(repo), "mlp", 1)["source"]["kind"] == "paddle_json"
    config = parse_models_config((repo / "models.config").read_text())
    assert [(c.name, c.base_path, c.model_platform) for c in config.model_config_list.config] == [
        ("mlp", str(repo / "mlp"), "tensorflow"), ("tiny", str(repo / "tiny"), "tensorflow")]

    # Published versions load with plain TensorFlow from the repository.
    code = ("import sys, numpy as np, tensorflow as tf\n"
            "m = tf.saved_model.load(sys.argv[1]); f = m.signatures['serving_default']\n"
            "y = list(f(x=tf.constant(np.ones((3, 8), np.float32))).values())[0]\n"
            "assert y.shape == (3, 4), y.shape\n"
            "tf.saved_model.load(sys.argv[2]).signatures['serving_default']; print('loaded')\n")
    load = subprocess.run([sys.executable, "-c", code, str(repo / "tiny" / "1"), str(repo / "mlp" / "1")],
                          capture_output=True, text=True, env=cli_env(TF_CPP_MIN_LOG_LEVEL="2"))
    assert load.returncode == 0 and "loaded" in load.stdout, load.stderr[-2000:]

    # Idempotent: the same sources, ONNX and settings publish nothing.
    again = run_cli("pipeline", "run", str(pipeline), "--jobs", "2", "--only", "tiny", "mlp")
    assert again.returncode == EXIT_OK, again.stdout[-3000:]
    assert "[tiny] unchanged" in again.stdout and "[mlp] unchanged" in again.stdout
    assert repository.versions("tiny") == [1] and repository.versions("mlp") == [1]

    listing = run_cli("repo", "list", str(repo))
    assert listing.returncode == 0 and "tiny" in listing.stdout and "mlp" in listing.stdout
    show = run_cli("repo", "show", str(repo), "tiny", "1")
    assert show.returncode == 0 and "onnxruntime_vs_tensorflow" in show.stdout and "PASS" in show.stdout


def test_repo_list_of_a_missing_folder_is_bad_input(tmp_path):
    """A mistyped repository path listed 'no published models' and exited 0, like an empty repository."""
    (tmp_path / "empty").mkdir()
    empty = run_cli("repo", "list", str(tmp_path / "empty"))
    assert empty.returncode == EXIT_OK and "no published models" in empty.stdout
    assert_clean_failure(run_cli("repo", "list", str(tmp_path / "mistyped")), tmp_path / "no_out",
                         f"{tmp_path / 'mistyped'}: no such model repository folder")


def _tiny_pipeline(tmp_path, name: str, source: str, repo) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"repository: {repo}\nwork_dir: work-{name}\nmodels:\n  - name: tiny\n    source: {source}\n")
    return str(path)


def test_killed_during_publish_leaves_no_partial_version(tmp_path):
    repo = tmp_path / "repo"
    pipeline = _tiny_pipeline(tmp_path, "p", tiny_onnx(tmp_path / "tiny.onnx"), repo)
    proc = subprocess.Popen([sys.executable, "-m", "paddle2tf", "pipeline", "run", pipeline],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=cli_env(**{PUBLISH_DELAY_ENV: "60"}))
    deadline = time.monotonic() + 240
    for line in proc.stdout:
        if "staged tiny version 1" in line:
            break
        assert time.monotonic() < deadline
    else:
        raise AssertionError("the pipeline never reached the publish staging step")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not no_staging_left(str(repo))  # the staged copy is there...
    assert Repository(str(repo)).versions("tiny") == []  # ...but no version, not even a partial one

    proc = run_cli("pipeline", "run", pipeline)
    assert proc.returncode == EXIT_OK, proc.stdout[-3000:]
    assert "[tiny] published version 1" in proc.stdout
    assert_complete_version(str(repo), "tiny", 1)
    assert no_staging_left(str(repo))


def test_concurrent_pipelines_publish_distinct_versions(tmp_path):
    repo = tmp_path / "repo"
    first = _tiny_pipeline(tmp_path, "a", tiny_onnx(tmp_path / "relu.onnx"), repo)
    second = _tiny_pipeline(tmp_path, "b", tiny_onnx(tmp_path / "sigmoid.onnx", "Sigmoid"), repo)
    env = cli_env(**{PUBLISH_DELAY_ENV: "1"})
    procs = [subprocess.Popen([sys.executable, "-m", "paddle2tf", "pipeline", "run", path], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env) for path in (first, second)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [EXIT_OK, EXIT_OK], outputs
    repository = Repository(str(repo))
    assert repository.versions("tiny") == [1, 2]
    manifests = [assert_complete_version(str(repo), "tiny", v) for v in (1, 2)]
    assert manifests[0]["onnx_sha256"] != manifests[1]["onnx_sha256"]
    assert sorted(m["source"]["text"] for m in manifests) == sorted([str(tmp_path / "relu.onnx"),
                                                                     str(tmp_path / "sigmoid.onnx")])
    assert no_staging_left(str(repo))
    assert [c.name for c in parse_models_config((repo / "models.config").read_text()).model_config_list.config] == [
        "tiny"]


def test_timeout_kills_one_model_and_the_alert_command_runs(tmp_path):
    """A model over its timeout is killed and alerted (file and command); the others are still published."""
    repo, received = tmp_path / "repo", tmp_path / "from_command.json"
    pipeline = tmp_path / "timeout.yaml"
    pipeline.write_text(textwrap.dedent(f"""\
        repository: {repo}
        work_dir: {tmp_path / 'work'}
        alerts:
          alerts_file: {tmp_path / 'alerts.jsonl'}
          command: cat > {received}
        models:
          - name: slow
            source: paddle_models:build_mlp
            input_specs: ["x:float32:-1x64"]
            timeout_s: 1
          - name: tiny
            source: {tiny_onnx(tmp_path / 'tiny.onnx')}
        """))
    started = time.monotonic()
    proc = run_cli("pipeline", "run", str(pipeline), "--jobs", "2")
    assert proc.returncode == EXIT_PARITY, proc.stdout + proc.stderr
    assert time.monotonic() - started < 120
    assert_complete_version(str(repo), "tiny", 1)
    assert not (repo / "slow").exists()
    alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [a["model"] for a in alerts] == ["slow"]
    assert "timed out after 1 s" in alerts[0]["error"]
    assert json.loads(received.read_text())["model"] == "slow"  # the command got the same alert on stdin


def test_same_pipeline_twice_at_once(tmp_path):
    """A CI retry: the same YAML started twice at once shares work_dir; each run works in its own folder, one
    publishes and the other reports unchanged (or waits for the lock and finds it published), no false alert."""
    repo = tmp_path / "repo"
    alerts = tmp_path / "alerts.jsonl"
    path = tmp_path / "p.yaml"
    path.write_text(f"repository: {repo}\nwork_dir: {tmp_path / 'work'}\nalerts: {{alerts_file: {alerts}}}\n"
                    f"models:\n  - name: tiny\n    source: {tiny_onnx(tmp_path / 'tiny.onnx')}\n"
                    f"  - name: relu\n    source: {tiny_onnx(tmp_path / 'relu.onnx')}\n")
    env = cli_env(**{PUBLISH_DELAY_ENV: "1"})
    procs = [subprocess.Popen([sys.executable, "-m", "paddle2tf", "pipeline", "run", str(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [EXIT_OK, EXIT_OK], outputs
    for name in ("tiny", "relu"):
        assert Repository(str(repo)).versions(name) == [1]
        assert sum(f"[{name}] published version 1" in out for out in outputs) == 1, outputs
        assert sum(f"[{name}] unchanged" in out for out in outputs) == 1, outputs
    assert not alerts.exists()
    assert os.listdir(tmp_path / "work") == []  # every run's folder removed: nothing failed


def test_only_is_repeatable(tmp_path):
    repo = tmp_path / "repo"
    path = tmp_path / "p.yaml"
    path.write_text(f"repository: {repo}\nwork_dir: {tmp_path / 'work'}\nmodels:\n"
                    f"  - name: a\n    source: {tiny_onnx(tmp_path / 'a.onnx')}\n"
                    f"  - name: b\n    source: {tiny_onnx(tmp_path / 'b.onnx', 'Sigmoid')}\n"
                    f"  - name: c\n    source: {tiny_onnx(tmp_path / 'c.onnx', 'Tanh')}\n")
    proc = run_cli("pipeline", "run", str(path), "--only", "a", "--only", "c")
    assert proc.returncode == EXIT_OK, proc.stdout[-3000:]
    assert Repository(str(repo)).models() == ["a", "c"]


_READ_WARMUP = textwrap.dedent("""\
    import json, sys
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    version, feeds_file = sys.argv[1], sys.argv[2]
    records = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
               for r in tf.data.TFRecordDataset(version + "/assets.extra/tf_serving_warmup_requests")]
    request = records[0].predict_log.request
    inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    expected = np.load(feeds_file)
    model = tf.saved_model.load(version)
    outputs = model.signatures[request.model_spec.signature_name](**{k: tf.constant(v) for k, v in inputs.items()})
    print(json.dumps({"records": len(records), "name": request.model_spec.name,
                      "signature": request.model_spec.signature_name, "inputs": sorted(inputs),
                      "equal": all(np.array_equal(inputs[k], expected[k][:len(inputs[k])]) for k in inputs),
                      "batch": [len(v) for v in inputs.values()], "outputs": sorted(outputs)}))
    """)


def test_published_version_has_tf_serving_warmup_requests(tmp_path):
    """The warm-up file is TF Serving's format: parsed with tensorflow-serving-api's own protos (the reference),
    its request holds the verification inputs and runs on the published SavedModel."""
    repo = tmp_path / "repo"
    pipeline = _tiny_pipeline(tmp_path, "w", tiny_onnx(tmp_path / "tiny.onnx"), repo)
    proc = run_cli("pipeline", "run", pipeline)
    assert proc.returncode == EXIT_OK, proc.stdout[-3000:]
    assert "[tiny] TF Serving warm-up: 1 request of batch 2" in proc.stdout
    version = repo / "tiny" / "1"
    report = json.loads((version / "assets.extra" / "report.json").read_text())
    assert report["signature"]["inputs"][0]["tf_name"] == "x"
    script = tmp_path / "read_warmup.py"
    script.write_text(_READ_WARMUP)
    reference = tmp_path / "inputs.npz"
    # the conversion's verification inputs: regenerated the way the tool documents them (seed 0, uniform [-1, 1])
    np.savez(reference, x=np.random.default_rng(0).uniform(-1, 1, (2, 8)).astype(np.float32))
    child = subprocess.run([sys.executable, str(script), str(version), str(reference)], capture_output=True,
                           text=True, env=cli_env())
    assert child.returncode == 0, child.stderr[-3000:]
    found = json.loads(child.stdout.strip().splitlines()[-1])
    assert found["records"] == 1 and found["name"] == "tiny" and found["signature"] == "serving_default"
    assert found["inputs"] == ["x"] and found["batch"] == [2] and found["outputs"] == ["y"]
    assert found["equal"], "the warm-up request does not hold the verification inputs"
    assert (version / "assets.extra" / "tf_serving_warmup_requests").stat().st_size <= 1 << 20
