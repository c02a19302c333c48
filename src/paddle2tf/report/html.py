"""report.html: a self-contained page rendered from the report data (``ConversionReport.to_dict()``).

No network resources: CSS is inline, the error curve is a matplotlib (Agg) PNG embedded as base64.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math

from paddle2tf.report.terminal import deploy_check_rows, sensitivity_text, tflite_rows
from paddle2tf.verify.dataset.result import HISTOGRAM_EDGES
from paddle2tf.verify.model import PAIR_LABELS, PAIRS, pair_key

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1f2328;
background:#f6f8fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid #d0d7de;
padding-bottom:4px} h3{font-size:15px;margin:16px 0 6px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px 18px;margin:14px 0}
table{border-collapse:collapse;font-size:13px;margin:6px 0} th,td{padding:3px 10px;text-align:left;
border-bottom:1px solid #eaeef2;vertical-align:top} th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums;font-family:ui-monospace,Menlo,Consolas,monospace}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.pass{background:#1a7f37} .warn{background:#9a6700} .fail{background:#cf222e} .unverified,.not_checked,
.not_compared,.skipped,.not_judged,.not_converted{background:#6e7781}
.culprit{border:2px solid #cf222e;background:#fff5f5}
.culprit h2{color:#cf222e;border-color:#ffcecb}
.bar{display:inline-block;height:10px;background:#54aeff;border-radius:2px}
.muted{color:#656d76} .small{font-size:12px}
img.chart{max-width:100%;border:1px solid #eaeef2}
tr.hl td{background:#ffebe9;font-weight:600}
"""


def _e(value) -> str:
    return html.escape(str(value))


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if math.isinf(value):
            return "inf"
        return f"{value:.2e}"
    return _e(value)


def _badge(verdict: str) -> str:
    verdict = verdict or "unverified"
    return f'<span class="badge {_e(verdict)}">{_e(verdict.upper().replace("_", " "))}</span>'


def _shape(shape) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(f'<tr class="{(classes or [""] * len(rows))[i]}">' + "".join(row) + "</tr>"
                   for i, row in enumerate(rows))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _td(value, num: bool = False) -> str:
    return f'<td class="num">{value}</td>' if num else f"<td>{value}</td>"


# -- sections ---------------------------------------------------------------------------------------
def _summary_section(data: dict) -> str:
    source = data.get("source", {})
    model = data.get("model_summary") or {}
    signature = data.get("signature", {})
    rows = [["source", f"<code>{_e(source.get('path', ''))}</code> ({_e(source.get('kind', ''))})"],
            ["ONNX opset", _e(data.get("opset", ""))],
            ["nodes", _e(model.get("nodes", "?")) + (f" (+{model['subgraph_nodes']} in subgraphs)"
                                                      if model.get("subgraph_nodes") else "")],
            ["initializers", _e(model.get("initializers", "?"))]]
    if model.get("producer"):
        rows.append(["producer", _e(model["producer"])])
    for kind in ("inputs", "outputs"):
        rows.append([kind, "<br>".join(f"<code>{_e(t['onnx_name'])}</code> → <code>{_e(t['tf_name'])}</code> "
                                       f"{_e(t['dtype'])}{_shape(t['shape'])}" for t in signature.get(kind, []))])
    if signature.get("precision"):
        rows.append(["precision", _precision(signature["precision"])])
    tool = data.get("tool", {})
    rows.append(["tools", _e(", ".join(f"{k} {v}" for k, v in tool.items()))])
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<section><h2>Model</h2><table>{body}</table></section>"


def _precision(record: dict) -> str:
    """convert --precision: compute type, signature type, default tolerance and the float32 islands."""
    tol = record.get("default_tolerance") or {}
    islands = ", ".join(f"{op} x{n}" for op, n in (record.get("fp32_islands") or {}).items())
    return (f"compute <b>{_e(record.get('compute_dtype', record.get('compute', '')))}</b>, inputs/outputs "
            f"{_e(record.get('io', 'float32'))}; default tolerance rtol {_e(tol.get('rtol', ''))}, atol "
            f"{_e(tol.get('atol', ''))}" + (f"; computed in float32: {_e(islands)}" if islands else ""))


def _quantized_section(data: dict) -> str:
    """The quantized tensors of a QDQ model: scales, zero points and the layers reading them."""
    quantized = (data.get("model_summary") or {}).get("quantized") or []
    if not quantized:
        return ""
    rows = [[_td(f"<code>{_e(t['tensor'])}</code>"), _td(_e(t["kind"])), _td(_e(t["dtype"])),
             _td(_e(t["granularity"] + (f" (axis {t['axis']})" if t["axis"] is not None else ""))),
             _td(_e("x".join(map(str, t["scale_shape"])) or "scalar")),
             _td(_e(f"{t['scale_min']:.3g}" + (f"..{t['scale_max']:.3g}" if t["scale_max"] != t["scale_min"] else ""))),
             _td(_e(", ".join(map(str, t["zero_points"])))), _td("<br>".join(f"<code>{_e(layer)}</code>"
                                                                            for layer in t["layers"]))]
            for t in quantized]
    head = ["tensor", "kind", "type", "granularity", "scale shape", "scale", "zero points", "read by"]
    return (f"<section><h2>Quantized tensors</h2><p class='muted small'>{len(quantized)} tensors "
            f"(QuantizeLinear / DequantizeLinear)</p>{_table(head, rows)}</section>")


def _histogram_section(data: dict) -> str:
    histogram = (data.get("model_summary") or {}).get("op_histogram") or {}
    if not histogram:
        return ""
    top = max(histogram.values())
    rows = [[_td(f"<code>{_e(op)}</code>"), _td(count, True),
             _td(f'<span class="bar" style="width:{max(2, round(240 * count / top))}px"></span>')]
            for op, count in histogram.items()]
    return (f"<section><h2>Op histogram</h2><p class='muted small'>{len(histogram)} op types, "
            f"{sum(histogram.values())} nodes in the main graph</p>{_table(['op', 'nodes', ''], rows)}</section>")


def _verification_section(data: dict) -> str:
    verification = data.get("verification")
    if not verification:
        return "<section><h2>Verification</h2><p>verification skipped (--no-verify)</p></section>"
    frameworks = verification["frameworks"]
    keys = [pair_key(a, b) for a, b in PAIRS if a in frameworks and b in frameworks]
    rows = []
    for out in verification["outputs"]:
        cells = [_td(f"<code>{_e(out['name'])}</code>"), _td(_shape(out["shape"]) + " " + _e(out["dtype"]))]
        for key in keys:
            pair = out["pairs"].get(key)
            cells.append(_td(f"{_e(pair.get('mismatch') or _fmt(pair['max_rel']))} {_badge(pair['verdict'])}"
                             if pair else "-", True))
        cells.append(_td(_badge(out["verdict"])))
        rows.append(cells)
    table = _table(["output", "shape", *(f"{PAIR_LABELS[k]} max_rel" for k in keys), "verdict"], rows)
    metrics = []
    for out in verification["outputs"]:
        tol = out["tolerance"]
        for key in keys:
            pair = out["pairs"].get(key)
            if not pair:
                continue
            metrics.append([_td(f"<code>{_e(out['name'])}</code>"), _td(_e(PAIR_LABELS[key])),
                            *(_td(_fmt(pair[m]), True) for m in ("max_abs", "max_rel", "rel_l2", "l2")),
                            _td(f"{pair['cosine']:.8f}" if pair["cosine"] == pair["cosine"] else "nan", True),
                            _td(f"{pair['out_of_tolerance']}/{pair['elements']}", True),
                            _td(f"rtol {tol['rtol']:g}, atol {tol['atol']:g}"
                                f"{' (scaled)' if tol.get('scale_atol') else ''}"),
                            _td(_badge(pair["verdict"]))])
    feeds = ", ".join(f"<code>{_e(f['name'])}</code> {_e(f['dtype'])}{_shape(f['shape'])}"
                      for f in verification["feeds"])
    origin = _e(verification["feeds"][0]["origin"]) if verification["feeds"] else ""
    return (f"<section><h2>Three-way verification {_badge(verification['verdict'])}</h2>"
            f"<p class='small'>frameworks: {_e(', '.join(frameworks))}; inputs: {feeds} ({origin})</p>"
            + "".join(f"<p class='small'><b>{_e(name)} skipped</b>: {_e(reason)}</p>"
                      for name, reason in verification.get("skipped", {}).items())
            + table
            + "".join(f"<p class='small'>{_e(sensitivity_text(out['name'], out['sensitivity']))}</p>"
                      for out in verification["outputs"] if out.get("sensitivity")) + "<h3>Per-output metrics</h3>"
            + _table(["output", "pair", "max_abs", "max_rel", "rel_l2", "l2", "cosine", "out of tol.", "tolerance",
                      "verdict"], metrics) + "</section>")


def error_curve_png(locate: dict) -> bytes | None:
    """The per-node max relative error along the graph (log scale), the culprit marked."""
    nodes = locate["nodewise"]["nodes"]
    culprit = locate["nodewise"].get("culprit")
    mark = None
    if culprit and nodes[culprit["index"]]["max_rel"] is not None:
        mark = (culprit["index"], nodes[culprit["index"]]["max_rel"],
                f"culprit: {culprit['op_type']} '{culprit['name']}'")
    return _curve_png([(n["index"], n["max_rel"], n["verdict"]) for n in nodes if n["max_rel"] is not None],
                      locate["tolerance"], len(nodes), mark, "ONNX node (topological order)",
                      "max relative error (ORT vs TF)")


def paddle_curve_png(locate: dict) -> bytes | None:
    """Paddle's intermediate values vs ONNX Runtime's along the Paddle program, the drifting region marked."""
    values = locate["paddle_values"]["values"]
    region = locate["paddle_values"].get("region")
    mark = None
    if region:
        first = next(v for v in values if v["name"] == region["first_value"])
        mark = (first["op_index"], first["max_rel"], f"drift starts: op {first['op_index']} {first['paddle_op']}")
    return _curve_png([(v["op_index"], v["max_rel"], v["verdict"]) for v in values if v["max_rel"] is not None],
                      locate["tolerance"], max((v["op_index"] for v in values), default=0) + 1, mark,
                      "Paddle op (program order)", "max relative error (Paddle vs ORT)")


def _curve_png(points: list[tuple], tol: dict, length: int, mark: tuple | None, xlabel: str,
               ylabel: str) -> bytes | None:
    """Max relative error per position (log scale); ``mark``: (x, value, label) circled in red."""
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    finite = [p[1] for p in points if p[1] == p[1] and not math.isinf(p[1]) and p[1] > 0]
    floor = min([*finite, tol["rtol"]]) / 10 if finite else tol["rtol"] / 10
    ceiling = max([*finite, tol["rtol"], 1.0]) * 10

    def y(value):  # exact agreement at the floor, NaN/inf at the ceiling (a log axis cannot show them)
        return ceiling if value != value or math.isinf(value) else max(value, floor)

    fig = Figure(figsize=(10, 3.6), dpi=100)
    ax = fig.add_subplot()
    colors = {"pass": "#1a7f37", "warn": "#bf8700", "fail": "#cf222e"}
    for verdict, color in colors.items():
        sel = [p for p in points if p[2] == verdict and p[1] != 0]
        if sel:
            ax.scatter([p[0] for p in sel], [y(p[1]) for p in sel], s=10, color=color, label=verdict, zorder=2)
    exact = [p for p in points if p[1] == 0]
    if exact:
        ax.scatter([p[0] for p in exact], [floor] * len(exact), s=10, facecolors="none", edgecolors="#8c959f",
                   label="exact (0)", zorder=2)
    ax.axhline(tol["rtol"], color="#0969da", linestyle="--", linewidth=1, label=f"rtol {tol['rtol']:g}")
    if mark:
        x, value, label = mark
        ax.scatter([x], [y(value)], s=140, facecolors="none", edgecolors="#cf222e", linewidths=2, zorder=3)
        ax.annotate(label, (x, y(value)), textcoords="offset points", xytext=(10, -16), color="#cf222e",
                    fontsize=9, fontweight="bold", ha="left" if x < 0.7 * length else "right")
        ax.axvline(x, color="#cf222e", linewidth=0.8, alpha=0.5)
    ax.set_ylim(floor / 2, ceiling * 2)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(-1, max(length, 2))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, ncols=5, framealpha=0.9)
    return _png(fig)


def _png(fig) -> bytes:
    """A laid-out matplotlib figure as PNG bytes (embedded in report.html as a data URI)."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _locate_section(locate: dict | None) -> str:
    if not locate:
        return ""
    hops = locate["hops"]
    hop_rows = [[_td(_e({"paddle_to_onnx": "Paddle → ONNX", "onnx_to_tensorflow": "ONNX → TensorFlow"}[h])),
                 _td(f"{_e(r['reference'])} ↔ {_e(r['candidate'])}"), _td(_fmt(r["max_rel"]), True),
                 _td(_badge(r["verdict"])), _td(_e(r["basis"]), False)] for h, r in hops.items()]
    diverging = locate.get("diverging_hop")
    parts = [f"<section><h2>Locate: where the outputs diverge</h2><p><b>{_e(locate['summary'])}</b></p>",
             _table(["hop", "pair", "max_rel", "verdict", "basis"], hop_rows, ["hl" if diverging in (h, "both")
                                                                               else "" for h in hops]),
             f"<p class='small muted'>inputs {_e(locate['feeds_origin'])}; tolerance rtol "
             f"{locate['tolerance']['rtol']:g}, atol {locate['tolerance']['atol']:g}; {locate['seconds']:.1f} s</p>"]
    parts.append(_paddle_values_section(locate))
    nodewise = locate["nodewise"]
    if not nodewise["ran"]:
        parts.append(f"<p>Node-level search not run: {_e(nodewise['reason'])}</p></section>")
        return "".join(parts)
    parts.append(f"<p class='small'>{nodewise['compared_values']} ONNX values compared, "
                 f"{nodewise['not_compared_values']} not compared, {len(nodewise['nodes'])} nodes, "
                 f"{nodewise['chunks']} chunk(s), {nodewise['seconds']:.1f} s</p>")
    png = error_curve_png(locate)
    if png is not None:
        parts.append(f'<h3>Error along the graph</h3><img class="chart" id="error-curve" alt="per-node max relative '
                     f'error along the graph" src="data:image/png;base64,{base64.b64encode(png).decode()}">')
    parts.append("</section>")
    culprit = nodewise.get("culprit")
    if culprit:
        parts.append(_culprit_section(culprit, nodewise))
    parts.append(_node_table(nodewise))
    return "".join(parts)


def _paddle_values_section(locate: dict) -> str:
    """Inside the Paddle → ONNX hop: the values compared, the first drifting region on both sides."""
    paddle_values = locate.get("paddle_values") or {}
    if not paddle_values.get("ran"):
        return ""
    parts = [f"<h3>Paddle → ONNX, value by value</h3><p class='small'>{paddle_values['compared_values']} Paddle "
             f"values compared with their ONNX counterparts, {paddle_values['not_compared_values']} not compared, "
             f"{paddle_values['seconds']:.1f} s</p>"]
    png = paddle_curve_png(locate)
    if png is not None:
        parts.append(f'<img class="chart" id="paddle-curve" alt="Paddle vs ONNX Runtime error along the program" '
                     f'src="data:image/png;base64,{base64.b64encode(png).decode()}">')
    region = paddle_values.get("region")
    if region:
        paddle_rows = [[_td(f"{op['index']}", True), _td(f"<code>{_e(op['op'])}</code>", False),
                        _td(_e(", ".join(op["params"])) or "-", False),
                        _td(_e(", ".join(op["sublayers"])) or "-", False)] for op in region["paddle_ops"]]
        onnx_rows = [[_td(f"{n['index']}", True), _td(f"<code>{_e(n['name'])}</code>", False),
                      _td(_e(n["op_type"]), False)] for n in region["onnx_nodes"]]
        parts.append(f"<div class='culprit' id='paddle-region'><h3>First drifting region</h3><p>value "
                     f"<code>{_e(region['first_value'])}</code> max_rel {_fmt(region['max_rel'])}, entered from "
                     f"{_e(', '.join(region['entry_values'])) or 'the graph inputs'} (within tolerance)</p>"
                     + _table(["#", "Paddle op", "parameters", "sublayers"], paddle_rows)
                     + _table(["#", "ONNX node", "op type"], onnx_rows)
                     + f"<p class='small'>ONNX constants read: {_e(', '.join(region['constants'])) or '-'}</p></div>")
    return "".join(parts)


def _culprit_section(culprit: dict, nodewise: dict) -> str:
    attrs = "".join(f"<tr><th><code>{_e(k)}</code></th><td class='mono'>{_e(json.dumps(v))}</td></tr>"
                    for k, v in culprit["attributes"].items()) or "<tr><td class='muted'>no attributes</td></tr>"
    inputs = _table(["input", "kind", "shape", "dtype", "verdict"],
                    [[_td(f"<code>{_e(i['name'])}</code>"), _td(_e(i["kind"])), _td(_shape(i["shape"])),
                      _td(_e(i["dtype"])), _td(_badge(i["verdict"]))] for i in culprit["inputs"]])
    out_rows = []
    for o in culprit["outputs"]:
        m = culprit["metrics"].get(o["name"])
        tf_note = ""
        if o.get("tf_shape") or o.get("tf_dtype"):
            tf_note = f" (TF: {_shape(o.get('tf_shape') or o['shape'])} {_e(o.get('tf_dtype') or o['dtype'])})"
        metric_cells = ([_td(_fmt(m[k]), True) for k in ("max_abs", "max_rel", "rel_l2")]
                        + [_td(f"{m['cosine']:.6f}" if m["cosine"] == m["cosine"] else "nan", True),
                           _td(f"{m['out_of_tolerance']}/{m['elements']}", True)]) if m else [_td("-")] * 5
        out_rows.append([_td(f"<code>{_e(o['name'])}</code>"), _td(_shape(o["shape"]) + tf_note),
                         _td(_e(o["dtype"])), *metric_cells, _td(_badge(o["verdict"]))])
    outputs = _table(["output", "shape", "dtype", "max_abs", "max_rel", "rel_l2", "cosine", "out of tol.",
                      "verdict"], out_rows)
    extra = ""
    if culprit["unverified_inputs"]:
        extra += (f"<p class='small'>inputs not compared (not known to be within tolerance): "
                  f"{_e(', '.join(culprit['unverified_inputs']))}</p>")
    if nodewise.get("other_sources"):
        extra += (f"<p class='small'>other failing nodes whose inputs are within tolerance: "
                  f"{_e(', '.join(nodewise['other_sources'][:20]))}</p>")
    growth = _growth_table(culprit, nodewise)
    return (f'<section class="culprit" id="culprit"><h2>Culprit: node {culprit["index"]} '
            f'<code>{_e(culprit["name"])}</code> ({_e(culprit["op_type"])})</h2>'
            f"<p>The first node whose output exceeds tolerance while all of its inputs are within it.</p>"
            f"<h3>Attributes</h3><table>{attrs}</table><h3>Inputs</h3>{inputs}<h3>Outputs</h3>{outputs}{extra}"
            f"{growth}</section>")


def _growth_table(culprit: dict, nodewise: dict, limit: int = 25) -> str:
    desc = culprit["descendants"]
    if not desc:
        return "<p class='small muted'>no node consumes its outputs</p>"
    nodes = nodewise["nodes"]
    picked = desc if len(desc) <= limit else desc[:limit - 5] + desc[-5:]
    rows = [[_td(i, True), _td(f"<code>{_e(nodes[i]['name'])}</code>"), _td(_e(nodes[i]["op_type"])),
             _td(_fmt(nodes[i]["max_rel"]), True), _td(_badge(nodes[i]["verdict"]))]
            for i in [culprit["index"], *picked]]
    note = f" (first {limit - 5} and last 5 of {len(desc)})" if len(desc) > limit else ""
    return (f"<h3>How the error grows after it{note}</h3>"
            + _table(["node", "name", "op", "max_rel", "verdict"], rows, ["hl"] + [""] * len(picked)))


def _node_table(nodewise: dict) -> str:
    nodes = nodewise["nodes"]
    culprit = nodewise.get("culprit")
    rows, classes = [], []
    for n in nodes:
        reasons = "; ".join(f"{o['name']}: {o['reason']}" for o in n["outputs"] if o.get("reason"))
        const = " (constant)" if any(o.get("constant") for o in n["outputs"]) else ""
        rows.append([_td(n["index"], True), _td(f"<code>{_e(n['name'])}</code>"), _td(_e(n["op_type"]) + const),
                     _td(", ".join(_shape(o["shape"]) for o in n["outputs"])), _td(_fmt(n["max_rel"]), True),
                     _td(_badge(n["verdict"])), _td(f"<span class='small'>{_e(reasons)}</span>")])
        classes.append("hl" if culprit and culprit["index"] == n["index"] else "")
    return ("<section><details><summary><b>Every node</b> (max relative error per node, topological order)</summary>"
            + _table(["#", "node", "op", "output shapes", "max_rel", "verdict", "not compared because"], rows,
                     classes) + "</details></section>")


def _deploy_check_section(check: dict | None) -> str:
    if not check:
        return ""

    verdict = ""
    if check["required"]:
        verdict = (f" <span class='badge {'pass' if check['ok'] else 'fail'}'>"
                   f"{_e(', '.join(check['required']))}: {'MET' if check['ok'] else 'NOT MET'}</span>")
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in deploy_check_rows(check))
    failures = "".join(f"<li><code>{_e(line)}</code></li>" for line in check["failures"])
    return (f"<section><h2>Deployment check (paddle2tf deploy-check){verdict}</h2><table>{body}</table>"
            f"{'<ul>' + failures + '</ul>' if failures else ''}</section>")


def _tflite_section(items: list | None) -> str:
    if not items:
        return ""

    header, *rows = tflite_rows(items)
    cells = [[_td(_e(row[0])), _td(f"<code>{_e(row[1])}</code>"), *(_td(_e(v), True) for v in row[2:6]),
              _td(_badge(item["verdict"]) + (f" <span class='small'>{_e(item['reason'])}</span>"
                                             if item.get("reason") else ""))]
             for row, item in zip(rows, items, strict=True)]
    return (f"<section><h2>TFLite files</h2>{_table(header, cells)}<p class='small muted'>max_rel/max_abs: worst "
            "output on the verification inputs; top-1 agreement: argmax over the last axis of each float output of "
            "rank &ge; 2, worst output. fp32 is held to the conversion's tolerance; quantised variants are judged "
            "only with --tflite-min-top1.</p></section>")


def dataset_error_png(dataset: dict) -> bytes | None:
    """Per output: the histogram of the per-sample max relative error (log bins) of each pair, and its CDF."""
    panels = [(out["name"], out["per_sample"]) for out in dataset["outputs"] if out.get("per_sample")]
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    edges = [10 ** e for e in HISTOGRAM_EDGES]
    fig = Figure(figsize=(10, 3.2 * len(panels)), dpi=100)
    colors = {"paddle_vs_onnxruntime": "#8250df", "paddle_vs_tensorflow": "#0969da",
              "onnxruntime_vs_tensorflow": "#1a7f37"}
    for row, (name, pairs) in enumerate(panels):
        hist_ax = fig.add_subplot(len(panels), 2, 2 * row + 1)
        cdf_ax = fig.add_subplot(len(panels), 2, 2 * row + 2)
        used = [i for dist in pairs.values() for i, c in enumerate(dist["histogram"]) if c]
        low, high = (min(used), max(used) + 1) if used else (0, len(edges) - 1)
        for key, dist in pairs.items():
            counts = dist["histogram"]
            color = colors.get(key, "#6e7781")
            label = PAIR_LABELS.get(key, key)
            hist_ax.stairs(counts, edges, color=color, label=label)
            total = max(dist["samples"], 1)
            cumulative, running = [], dist["zeros"]
            for count in counts:
                running += count
                cumulative.append(running / total)
            cdf_ax.step(edges[1:], cumulative, where="post", color=color, label=label)
        for ax in (hist_ax, cdf_ax):
            ax.set_xscale("log")
            ax.set_xlim(edges[max(low - 1, 0)], edges[min(high + 1, len(edges) - 1)])
            ax.grid(True, alpha=0.3)
            ax.set_xlabel(f"per-sample max relative error ({name})")
        hist_ax.set_ylabel("samples")
        cdf_ax.set_ylabel("share of samples ≤ x")
        cdf_ax.set_ylim(0, 1.02)
        cdf_ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def _dataset_section(dataset: dict | None) -> str:
    if not dataset:
        return ""
    partial = ("" if dataset["complete"] else
               f"<p class='culprit'><b>Partial result</b>: interrupted after {dataset['samples']} of "
               f"{dataset['total']} samples.</p>")
    preprocess = f"; preprocessing <code>{_e(dataset['preprocess'])}</code>" if dataset.get("preprocess") else ""
    labels = f"; labels <code>{_e(dataset['labels'])}</code>" if dataset.get("labels") else ""
    head = (f"<p><code>{_e(dataset['path'])}</code>: {dataset['samples']} of {dataset['total']} samples "
            f"({_e(dataset['kind'])}), batches of {dataset['batch_size']}, task {_e(dataset['task'])}"
            f"{preprocess}{labels}. "
            f"Fails below agreement {dataset['min_agreement']:g} or beyond an accuracy drop of "
            f"{dataset['max_accuracy_drop']:g} percentage points.</p>")
    rows = []
    for a in dataset["agreements"]:
        extra = f" <span class='small muted'>max score diff {_fmt(a['max_score_diff'])}</span>" \
            if a.get("max_score_diff") is not None else ""
        rows.append([_td(_e(a["output"])), _td(_e(a["task"])), _td(_e(a["metric"])),
                     _td(_e(PAIR_LABELS.get(a["pair"], a["pair"]))), _td(f"{100 * a['value']:.3f}%", True),
                     _td(f"{a['agree']:g} / {a['total']:g}{extra}", True), _td(_badge(a["verdict"]))])
    tables = _table(["output", "task", "metric", "pair", "agreement", "agree / total", "verdict"], rows) if rows else \
        "<p class='muted'>No output of a known task form: element-wise comparison only.</p>"
    if dataset["accuracy"]:
        acc_rows = [[_td(_e(a["output"])), _td(_e(a["framework"])), _td(f"{100 * a['accuracy']:.2f}%", True),
                     _td(f"{a['correct']} / {a['total']}", True),
                     _td("reference" if a["drop_pp"] is None else f"{a['drop_pp']:+.2f} pp", True),
                     _td(_badge(a["verdict"]))] for a in dataset["accuracy"]]
        tables += "<h3>Top-1 accuracy (labels)</h3>" + _table(
            ["output", "framework", "accuracy", "correct", "drop", "verdict"], acc_rows)
    element_rows = []
    for out in dataset["outputs"]:
        for key, m in out["pairs"].items():
            dist = out["per_sample"].get(key, {})
            pct = dist.get("percentiles", {})
            element_rows.append([_td(_e(out["name"])), _td(_e(PAIR_LABELS.get(key, key))),
                                 _td(_fmt(m["max_rel"]), True), _td(_fmt(pct.get("p50")), True),
                                 _td(_fmt(pct.get("p99")), True), _td(_fmt(pct.get("max")), True),
                                 _td(f"{m['out_of_tolerance']}", True), _td(_badge(m["verdict"]))])
    tables += "<h3>Element-wise and per-sample error</h3>" + _table(
        ["output", "pair", "max_rel (all)", "per-sample p50", "p99", "max", "out of tolerance", "verdict"],
        element_rows)
    png = dataset_error_png(dataset)
    if png is not None:
        tables += (f'<img class="chart" alt="per-sample error histogram and CDF" '
                   f'src="data:image/png;base64,{base64.b64encode(png).decode()}">')
    for out in dataset["outputs"]:
        worst = (out["per_sample"].get(dataset["judged_pair"]) or {}).get("worst") or []
        if not worst:
            continue
        worst_rows = [[_td(f'<img src="{_e(w["thumbnail"])}" alt="">' if w.get("thumbnail") else "-"),
                       _td(f"<code>{_e(w['name'])}</code>"), _td(_fmt(w["max_rel"]), True)] for w in worst]
        tables += (f"<h3>Worst samples of {_e(out['name'])} "
                   f"({_e(PAIR_LABELS.get(dataset['judged_pair'], dataset['judged_pair']))})</h3>"
                   + _table(["", "sample", "max_rel"], worst_rows))
    rates = ", ".join(f"{_e(k)} {v:.1f}" for k, v in dataset["throughput"].items())
    notes = "".join(f"<li>{_e(n)}</li>" for n in dataset.get("notes", []))
    return (f"<section id='dataset'><h2>Dataset check {_badge(dataset['verdict'])}</h2>{partial}{head}{tables}"
            f"<p class='small muted'>samples/s: {rates}; {dataset['seconds']:.1f} s. Per-sample error: max|a−b| / "
            f"max|a| over each sample's elements.</p>{'<ul>' + notes + '</ul>' if notes else ''}</section>")


def _stages_section(data: dict) -> str:
    stages = list(data.get("stages", []))
    locate = data.get("locate")
    if locate and not any(s["stage"] == "locate" for s in stages):
        stages.append({"stage": "locate", "seconds": locate["seconds"]})
    if not stages:
        return ""
    total = sum(s["seconds"] for s in stages) or 1.0
    rows = [[_td(_e(s["stage"])), _td(f"{s['seconds']:.2f} s", True),
             _td(f'<span class="bar" style="width:{max(2, round(300 * s["seconds"] / total))}px"></span>')]
            for s in stages]
    return f"<section><h2>Stage timings</h2>{_table(['stage', 'time', ''], rows)}</section>"


def _notes_section(data: dict) -> str:
    items = [f"<li>{_e(n)}</li>" for n in data.get("notes", [])]
    items += [f"<li><b>fix ({_e(f.get('stage', ''))}: {_e(f.get('pass_name', ''))})</b> "
              f"<code>{_e(f.get('target', ''))}</code>: {_e(f.get('change', ''))} — {_e(f.get('reason', ''))}</li>"
              for f in data.get("fixes", [])]
    return f"<section><h2>Notes and fixes</h2><ul>{''.join(items)}</ul></section>" if items else ""


def render_html(data: dict) -> str:
    """The whole page from ``ConversionReport.to_dict()`` (or report.json loaded)."""
    verdict = data.get("verdict") or (data.get("verification") or {}).get("verdict") or "unverified"
    source = data.get("source", {}).get("path", "")
    culprit = ((data.get("locate") or {}).get("nodewise") or {}).get("culprit")
    headline = ""
    if culprit:
        headline = (f"<p>Culprit: node {culprit['index']} <code>{_e(culprit['name'])}</code> "
                    f"({_e(culprit['op_type'])}) — <a href='#culprit'>details</a></p>")
    elif data.get("locate"):
        headline = f"<p>{_e(data['locate']['summary'])}</p>"
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>paddle2tf report: {_e(source)}</title><style>{_CSS}</style></head><body><main>"
            f"<h1>paddle2tf conversion report {_badge(verdict)}</h1><p class='muted'><code>{_e(source)}</code></p>"
            f"{headline}{_summary_section(data)}{_verification_section(data)}{_locate_section(data.get('locate'))}"
            f"{_dataset_section(data.get('dataset'))}{_tflite_section(data.get('tflite'))}"
            f"{_deploy_check_section(data.get('deploy_check'))}{_quantized_section(data)}{_histogram_section(data)}{_stages_section(data)}{_notes_section(data)}"
            f"<p class='small muted'>report schema {_e(data.get('schema_version', ''))}</p></main></body></html>")


def write_html(data: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(render_html(data))
