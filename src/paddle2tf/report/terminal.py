"""Terminal renderings of report data (and the rows report.html shares): they take data, never run a stage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

from paddle2tf.report.model import ConversionReport
from paddle2tf.targets.deploy_check import DeployCheck, is_dynamic, shape_text
from paddle2tf.targets.tflite import TfliteResult
from paddle2tf.verify.dataset.result import DatasetResult
from paddle2tf.verify.locate import HOP_LABELS, LocateReport
from paddle2tf.verify.metrics import FAIL, PASS
from paddle2tf.verify.model import PAIR_LABELS, PAIRS, pair_key


def _fmt(value: float | None) -> str:
    return "-" if value is None else (f"{value:.2e}" if value == value else "nan")


def render_summary(report: ConversionReport) -> str:
    """A short terminal table: per output, max relative error for each pair and the verdict."""
    verification = report.verification
    quantized = report.model_summary.get("quantized")
    if verification is None:
        return "\n".join(["verification skipped (--no-verify)", *([render_quantized(quantized)] if quantized else []),
                          *([_tflite_lines(report)] if report.tflite else []),
                          *([render_dataset(report.dataset)] if report.dataset is not None else [])])
    keys = [pair_key(a, b) for a, b in PAIRS if a in verification.frameworks and b in verification.frameworks]
    header = ["output", "shape", *(f"{PAIR_LABELS[k]} max_rel" for k in keys), "verdict"]
    rows = [header]
    for out in verification.outputs:
        rows.append([out.name, "x".join(map(str, out.shape)) or "scalar",
                     *(out.pairs[k].headline() if k in out.pairs else "-" for k in keys), out.verdict.upper()])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    feeds = ", ".join(f"{f.name} {f.dtype}[{'x'.join(map(str, f.shape))}]" for f in verification.feeds)
    lines.append(f"verdict: {verification.verdict.upper()}  (frameworks: {', '.join(verification.frameworks)}; "
                 f"inputs: {feeds}; {verification.feeds[0].origin if verification.feeds else ''})")
    lines += [f"{framework} skipped: {reason}" for framework, reason in verification.skipped.items()]
    lines += [sensitivity_text(out.name, asdict(out.sensitivity)) for out in verification.outputs if out.sensitivity]
    if quantized:
        lines.append(render_quantized(quantized))
    if report.tflite:
        lines.append(_tflite_lines(report))
    if report.dataset is not None:
        lines.append(render_dataset(report.dataset))
    return "\n".join(lines)


def sensitivity_text(output: str, sensitivity: dict) -> str:
    """What ONNX Runtime against itself with the float inputs one ulp up says of a failing output."""
    moved = f"ONNX Runtime itself moves by max_rel {sensitivity['max_rel']:.2e} when the float inputs move one ulp"
    if sensitivity["verdict"] == PASS:
        return f"{output}: rounding alone does not explain the failure ({moved}, within tolerance)"
    return (f"{output}: ill-conditioned on these inputs ({moved}, out of tolerance): float32 rounding amplified "
            "(e.g. by a long decoding loop) may be the whole divergence, and no float32 implementation can be "
            "verified on them at this tolerance; verify with representative inputs (--inputs FEEDS.npz)")


def render_quantized(quantized: list[dict]) -> str:
    """One line: how many tensors are quantized, of which kind, type and granularity."""
    kinds = Counter(f"{t['kind']}s {t['dtype']} {t['granularity']}" for t in quantized)
    return f"quantized: {len(quantized)} tensors ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})"


def _tflite_lines(report: ConversionReport) -> str:
    text = render_tflite(report.tflite)
    if report.verification and report.verdict != report.verification.verdict:
        text += f"\nverdict with the TFLite files: {report.verdict.upper()}"
    return text


def render_locate(data: LocateReport | dict, growth_rows: int = 8) -> str:
    """A short terminal account: hop verdicts, the culprit, how the error grows after it."""
    data = data.to_dict() if isinstance(data, LocateReport) else data
    lines = ["locate: " + data["summary"]]
    for hop, result in data["hops"].items():
        lines.append(f"  {HOP_LABELS[hop]:<20} {result['verdict'].upper():<12} max_rel {_fmt(result['max_rel'])}"
                     f"{'  (' + result['basis'] + ')' if result['basis'] else ''}")
    paddle_values = data.get("paddle_values") or {}
    if paddle_values.get("ran"):
        lines.append(f"  Paddle values: {paddle_values['compared_values']} compared with ONNX Runtime, "
                     f"{paddle_values['not_compared_values']} not compared, {paddle_values['seconds']:.1f} s")
    nodewise = data["nodewise"]
    if not nodewise["ran"]:
        return "\n".join(lines)
    lines.append(f"  node-level: {nodewise['compared_values']} values compared, {nodewise['not_compared_values']} "
                 f"not compared, {len(nodewise['nodes'])} nodes, {nodewise['chunks']} chunks, "
                 f"{nodewise['seconds']:.1f} s")
    culprit = nodewise["culprit"]
    if culprit is None:
        return "\n".join(lines)
    attrs = ", ".join(f"{k}={v}" for k, v in culprit["attributes"].items())
    lines.append(f"  culprit: node {culprit['index']} '{culprit['name']}' {culprit['op_type']}"
                 f"{'(' + attrs + ')' if attrs else ''}")
    for info in culprit["inputs"]:
        lines.append(f"    in  {info['name']}: {info['dtype']}{info['shape']} [{info['kind']}] {info['verdict']}")
    for info in culprit["outputs"]:
        check = next(c for c in nodewise["nodes"][culprit["index"]]["outputs"] if c["name"] == info["name"])
        lines.append(f"    out {info['name']}: {info['dtype']}{info['shape']} {check['verdict'].upper()} "
                     f"max_rel {_fmt(check['max_rel'])} max_abs {_fmt(check['max_abs'])} "
                     f"({check['out_of_tolerance']}/{check['elements']} elements out of tolerance)")
    desc = culprit["descendants"]
    if desc:
        step = max(1, len(desc) // growth_rows)
        picked = desc[::step][:growth_rows]
        if desc[-1] not in picked:
            picked.append(desc[-1])
        lines.append(f"  error after it ({len(desc)} downstream nodes, max_rel): " + ", ".join(
            f"{nodewise['nodes'][i]['op_type']}#{i} {_fmt(nodewise['nodes'][i]['max_rel'])}" for i in picked))
    return "\n".join(lines)


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB ({size:,} B)"


def tflite_rows(items: Sequence[TfliteResult | dict]) -> list[list[str]]:
    """Header + one row per variant, shared by the terminal summary and report.html."""
    items = [asdict(item) if isinstance(item, TfliteResult) else item for item in items]
    reference = next((item["reference"] for item in items if item.get("reference")), "reference")
    rows = [["tflite", "file", "size", f"vs {reference} max_rel", "max_abs", "top-1 agreement", "verdict"]]
    for item in items:
        if not item["converted"]:
            rows.append([item["variant"], "-", "-", "-", "-", "-", f"NOT CONVERTED: {item['reason']}"])
            continue
        metrics = item.get("metrics") or {}
        max_rel = max((m["max_rel"] for m in metrics.values()), default=None)
        max_abs = max((m["max_abs"] for m in metrics.values()), default=None)
        top1 = item.get("top1_agreement") or {}
        agreement = (f"{min(top1.values()):.3f} ({item['samples']} inputs)" if top1 else "-")
        verdict = item["verdict"].upper().replace("_", " ")
        if item["verdict"] in (PASS, FAIL) and item["variant"] != "fp32" and item.get("min_top1") is not None:
            verdict += f" (min top-1 {item['min_top1']:g})"
        if item.get("reason"):
            verdict += f": {item['reason']}"
        variant = item["variant"] + (" (model scales)" if item.get("scales") == "model" else "")
        rows.append([variant, item["path"], _mb(item["size_bytes"]),
                     "-" if max_rel is None else f"{max_rel:.2e}", "-" if max_abs is None else f"{max_abs:.2e}",
                     agreement, verdict])
    return rows


def render_tflite(items: Sequence[TfliteResult | dict]) -> str:
    rows = tflite_rows(items)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
                     for row in rows)


def _refs(refs: list[dict], total: int, limit: int = 3) -> str:
    shown = ", ".join(f"'{r['node']}' ({r['op']})" for r in refs[:limit])
    return f"{total}: {shown}{' …' if total > limit else ''}"


def deploy_check_rows(data: dict) -> list[tuple[str, str]]:
    """(property, finding) rows of a ``DeployCheck.to_dict()``, shared by the terminal table and report.html."""
    rows = [("saved model", f"{data['saved_model']} (serving_default)")]
    if data["load_error"]:
        rows.append(("loads", f"NO: {data['load_error']}"))
    else:
        counts = data["counts"]
        for kind in ("inputs", "outputs"):
            rows.append((kind, ", ".join(f"{t['name']} {t['dtype']}{shape_text(t['shape'])}" for t in data[kind])))
        histogram = ", ".join(f"{op} x{n}" for op, n in list(data["ops"].items())[:8])
        rows.append(("ops", f"{data['nodes']} nodes, {len(data['ops'])} types in {data['functions']} function(s): "
                            f"{histogram}{' …' if len(data['ops']) > 8 else ''}"))
        rows.append(("standard ops", "yes (every op in tf.raw_ops)" if not data["nonstandard_ops"] else
                     "NO: " + ", ".join(sorted({r["op"] for r in data["nonstandard_ops"]}))))
        rows.append(("control flow", _refs(data["control_flow"], counts["control_flow"]) if data["control_flow"]
                     else "none"))
        rows.append(("shape ops", _refs(data["shape_ops"], counts["shape_ops"]) if data["shape_ops"] else "none"))
        rows.append(("dtypes", ", ".join(data["dtypes"])))
        dynamic = [t["name"] for kind in ("inputs", "outputs") for t in data[kind] if is_dynamic(t["shape"])]
        rows.append(("dynamic dims", "none (every tensor static)" if not dynamic and not data["dynamic"] else
                     f"signature: {', '.join(dynamic) or 'static'}; tensors: {counts['dynamic']}"
                     + (f", first '{data['dynamic'][0]['node']}' {shape_text(data['dynamic'][0]['shape'])}"
                        if data["dynamic"] else "")))
    xla = data["xla"]
    if xla is not None:
        tol = xla["tolerance"]
        if xla["compiled"]:
            worst_rel = max((m["max_rel"] for m in xla["outputs"].values()), default=0.0)
            text = (f"compiles; vs non-XLA max_rel {worst_rel:.2e} (rtol {tol['rtol']:g}, atol {tol['atol']:g}"
                    f"{' scaled' if tol['scale_atol'] else ''}): {xla['verdict'].upper()}")
        else:
            text = f"does NOT compile: {xla['error']}"
        rows.append(("xla", text))
        if xla["latency_ms"]:
            rows.append(("latency", ", ".join(f"{k} {v:.2f} ms" for k, v in xla["latency_ms"].items())
                         + " (median)"))
    rows.append(("inputs used", data["feeds_origin"]))
    return rows


def render_deploy_check(data: DeployCheck | dict) -> str:
    """The terminal table: one row per property, then the verdict on the requirements and the failure lines."""
    data = data.to_dict() if isinstance(data, DeployCheck) else data
    rows = deploy_check_rows(data)
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
    if data["required"]:
        lines.append(f"requirements: {', '.join(data['required'])}: {'MET' if data['ok'] else 'NOT MET'}")
    lines += [f"  {line}" for line in data["failures"]]
    return "\n".join(lines)


# -- the dataset check (verify --dataset) ----------------------------------------------------------------
def _short(pair: str) -> str:
    return PAIR_LABELS.get(pair, pair.replace("_vs_", "↔"))


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def render_dataset(result: DatasetResult | dict) -> str:
    """The terminal summary: agreements, accuracy, per-sample error percentiles, worst samples, throughput."""
    data = result.to_dict() if isinstance(result, DatasetResult) else result
    lines = [f"dataset: {data['path']} ({data['samples']} of {data['total']} samples, batch {data['batch_size']}"
             f"{'; INTERRUPTED: partial result' if not data['complete'] else ''})"]
    rows = [["output", "task", "metric", "pair", "agreement", "verdict"]]
    for a in data["agreements"]:
        extra = f" (max score diff {a['max_score_diff']:.2e})" if a.get("max_score_diff") is not None else ""
        rows.append([a["output"], a["task"], a["metric"], _short(a["pair"]),
                     f"{_pct(a['value'])} ({a['agree']:g}/{a['total']:g}){extra}", a["verdict"].upper()])
    for acc in data["accuracy"]:
        drop = "reference" if acc["drop_pp"] is None else f"drop {acc['drop_pp']:+.2f} pp"
        rows.append([acc["output"], "classification", "accuracy", acc["framework"],
                     f"{_pct(acc['accuracy'])} ({acc['correct']}/{acc['total']}), {drop}", acc["verdict"].upper()])
    for out in data["outputs"]:
        rows.append([out["name"], out["task"] or "-", "element-wise", "all pairs",
                     ", ".join(f"{_short(k)} {v['max_rel']:.2e}" for k, v in out["pairs"].items()),
                     out["verdict"].upper()])
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines += ["  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    for out in data["outputs"]:
        dist = out["per_sample"].get(data["judged_pair"])
        if not dist:
            continue
        pct = ", ".join(f"{k} {v:.2e}" for k, v in dist["percentiles"].items())
        lines.append(f"  {out['name']} per-sample max_rel ({_short(data['judged_pair'])}): {pct}")
        worst = ", ".join(f"{w['name']} {w['max_rel']:.2e}" for w in dist["worst"][:3])
        if worst:
            lines.append(f"    worst: {worst}")
    rates = ", ".join(f"{k} {v:.1f}" for k, v in data["throughput"].items())
    lines.append(f"  samples/s: {rates}; {data['seconds']:.1f} s")
    lines += [f"  note: {note}" for note in data.get("notes", [])]
    lines.append(f"dataset verdict: {data['verdict'].upper()}"
                 f"{' (partial: interrupted)' if not data['complete'] else ''}")
    return "\n".join(lines)
