"""The results as JSON and as a Markdown table, and the headline ratios derived from them."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["headline", "markdown", "write_results"]

_FLAGS_SHOWN = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")
_PNG_DEFAULT = "Pillow PNG, default (level 6)"
# Issue #6's targets: vary serve end to end against the plain way at 1024x1024, by n; the
# server against OpenVINO run plainly (n=10), four clients against one, and GFLOP/s against the
# matmul peak.
_TARGET_SIZE = 1024
_END_TO_END_TARGETS = {1: 0.8, 4: 0.6, 10: 0.5}
_VERSUS_OPENVINO_TARGET = (10, 0.9)
_CONCURRENCY_TARGET = 1.0
_EFFICIENCY_TARGET = 0.6


def _ok(section: Any) -> bool:
    return isinstance(section, dict | list) and not (
        isinstance(section, dict) and "error" in section
    )


def _rows(results: dict[str, Any]) -> dict[tuple[int, int, str], dict[str, Any]]:
    timing = results.get("timing")
    if not _ok(timing):
        return {}
    return {(r["size"], r["n"], r["contender"]): r for r in timing["rows"]}


def _paired(mine: list[float], theirs: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(mine, theirs, strict=False))


def _gflops(results: dict[str, Any], size: int) -> float | None:
    flops = results.get("flops")
    if not _ok(flops) or str(size) not in flops:
        return None
    value: float = flops[str(size)]["gflop_per_picture"]
    return value


def _encode_ms(results: dict[str, Any], name: str) -> float | None:
    encoders = results.get("encoders")
    if not _ok(encoders):
        return None
    return next((e["ms"] for e in encoders["encoders"] if e["name"] == name), None)


def headline(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The ratios the run is for, by three estimators; each says whether lower is better and,
    where the issue set one, its target."""
    rows = _rows(results)
    if not rows:
        return []
    size = max(key[0] for key in rows)
    counts = sorted({key[1] for key in rows})
    lines = []
    for n in counts:
        if (size, n, "ours-http") in rows:
            row = rows[size, n, "ours-http"]
            lines.append(
                _line(
                    f"ours end to end / plain, {size}, n={n}",
                    (row["ratio_best"], row["ratio_paired"], row["ratio_cpu"]),
                    "lower",
                    target=_END_TO_END_TARGETS.get(n) if size == _TARGET_SIZE else None,
                )
            )
    lines += _with_encoding(results, rows, size, counts)
    lines += _versus_openvino(rows, size, max(counts))
    concurrency = results.get("concurrency")
    if _ok(concurrency):
        lines.append(
            _line(
                f"{concurrency['clients']}-client / 1-client throughput, {concurrency['size']}, "
                f"n={concurrency['n']}",
                (concurrency["ratio_best"], concurrency["ratio"], None),
                "higher",
                target=_CONCURRENCY_TARGET,
            )
        )
    lines += _efficiency(results, rows, size, max(counts))
    return lines


def _line(
    name: str,
    values: tuple[float | None, float | None, float | None],
    better: str,
    note: str = "",
    *,
    target: float | None = None,
) -> dict[str, Any]:
    best, paired, cpu = values
    return {
        "name": name,
        "best": best,
        "paired": paired,
        "cpu": cpu,
        "better": better,
        "target": target,
        "note": note,
    }


def _with_encoding(
    results: dict[str, Any],
    rows: dict[tuple[int, int, str], dict[str, Any]],
    size: int,
    counts: list[int],
) -> list[dict[str, Any]]:
    png = _encode_ms(results, _PNG_DEFAULT)
    if png is None:
        return []
    lines = []
    for n in counts:
        if (size, n, "ours-http") in rows:
            ours, plain, extra = rows[size, n, "ours-http"], rows[size, n, "plain"], n * png / 1e3
            lines.append(
                _line(
                    f"ours end to end / (plain + Pillow default PNG each), {size}, n={n}",
                    (
                        ours["best"] / (plain["best"] + extra),
                        None,
                        ours["best_cpu"] / (plain["best_cpu"] + extra),
                    ),
                    "lower",
                    "encode timed separately",
                )
            )
    return lines


def _versus_openvino(
    rows: dict[tuple[int, int, str], dict[str, Any]], size: int, n: int
) -> list[dict[str, Any]]:
    openvino = [r for (s, k, key), r in rows.items() if s == size and k == n and "ov-" in key]
    if not openvino:
        return []
    fastest = min(openvino, key=lambda r: r["best"])
    precision = fastest["contender"].removeprefix("ov-")
    target_n, target = _VERSUS_OPENVINO_TARGET
    lines = []
    for key, label in (("ours", "in process"), ("ours-http", "end to end")):
        if (size, n, key) in rows:
            ours = rows[size, n, key]
            values = (
                ours["best"] / fastest["best"],
                _paired(ours["seconds"], fastest["seconds"]),
                ours["best_cpu"] / fastest["best_cpu"],
            )
            lines.append(
                _line(
                    f"ours ({label}) / OpenVINO {precision} (fastest), {size}, n={n}",
                    values,
                    "lower",
                    target=target if key == "ours-http" and n == target_n else None,
                )
            )
    return lines


def _round_peaks(results: dict[str, Any], size: int, n: int) -> list[float]:
    timing = results.get("timing")
    if not _ok(timing):
        return []
    rounds = timing.get("peak_rounds", [])
    return next((p["gflops"] for p in rounds if p["size"] == size and p["n"] == n), [])


def _efficiency(
    results: dict[str, Any], rows: dict[tuple[int, int, str], dict[str, Any]], size: int, n: int
) -> list[dict[str, Any]]:
    gflop, peaks = _gflops(results, size), _round_peaks(results, size, n)
    if gflop is None or not peaks or (size, n, "ours") not in rows:
        return []
    achieved = [n * gflop / t for t in rows[size, n, "ours"]["seconds"]]
    paired = statistics.median(a / p for a, p in zip(achieved, peaks, strict=False))
    note = (
        f"best {max(achieved):.1f} achieved vs {max(peaks):.1f} peak GFLOP/s; peak: a 2048^3 "
        "fp32 MatMul timed in the same rounds"
    )
    return [
        _line(
            f"ours achieved GFLOP/s / onnxruntime matmul peak, {size}, n={n}",
            (max(achieved) / max(peaks), paired, None),
            "higher",
            note,
            target=_EFFICIENCY_TARGET,
        )
    ]


def _table(header: Iterable[str], body: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return [*lines, ""]


def _machine(results: dict[str, Any]) -> list[str]:
    machine = results["machine"]
    flags = ", ".join(f"{f} {'yes' if machine['flags'].get(f) else 'no'}" for f in _FLAGS_SHOWN)
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    load = " / ".join(f"{x:.2f}" for x in machine["load_average"])
    load_end = " / ".join(f"{x:.2f}" for x in results.get("load_average_end", []))
    return [
        f"- CPU: {machine['cpu']}, {machine['usable_cpus']} usable of "
        f"{machine['logical_cpus']} logical CPUs, {machine['memory_gib']} GiB",
        f"- flags: {flags}",
        f"- load average at start: {load}; at end: {load_end}",
        f"- Python {machine['python']}; {versions}",
        "",
    ]


def _timing_tables(results: dict[str, Any]) -> list[str]:
    timing = results.get("timing")
    if not _ok(timing):
        return ["Timing did not run or failed: see Errors.", ""]
    rows = _rows(results)
    keys = list(dict.fromkeys(k for (_, _, k) in rows))
    labels = [timing["contenders"][k] for k in keys]
    cases = sorted({(s, n) for (s, n, _) in rows})

    def table(
        cell: Callable[[dict[str, Any]], str], extra: Callable[[int, int], str], last: str
    ) -> list[str]:
        return _table(
            ["size", "n", *labels, last],
            ([f"{s}", f"{n}", *(cell(rows[s, n, k]) for k in keys), extra(s, n)] for s, n in cases),
        )

    def wall(row: dict[str, Any]) -> str:
        text = f"{row['best']:.3f}"
        return text if row["contender"] == "plain" else f"{text} ({row['ratio_best']:.2f}x)"

    def cpu(row: dict[str, Any]) -> str:
        text = f"{row['best_cpu']:.2f}"
        return text if row["contender"] == "plain" else f"{text} ({row['ratio_cpu']:.2f}x)"

    def gflops(row: dict[str, Any]) -> str:
        gflop = _gflops(results, row["size"])
        return "" if gflop is None else f"{row['n'] * gflop / row['best']:.1f}"

    def rounds(size: int, n: int) -> str:
        return "/".join(str(len(rows[size, n, k]["seconds"])) for k in keys)

    def peak(size: int, n: int) -> str:
        peaks = _round_peaks(results, size, n)
        return f"{max(peaks):.1f}" if peaks else ""

    skipped = [f"- skipped {k}: {why}" for k, why in timing["skipped"].items()]
    return [
        "## Wall seconds per request: best round (ratio of bests to (a))",
        "",
        *table(wall, rounds, "rounds"),
        *skipped,
        "",
        "## CPU seconds per request, all threads: best round (ratio to (a))",
        "",
        "(d) counts the server's and the client's CPU; load from other processes changes these",
        "far less than wall time.",
        "",
        *table(cpu, rounds, "rounds"),
        "## Effective GFLOP/s: n x model FLOPs per picture / best wall time",
        "",
        "Last column: the best 2048^3 fp32 MatMul of the same rounds in onnxruntime.",
        "",
        *table(gflops, peak, "MatMul peak"),
    ]


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _target(line: dict[str, Any]) -> str:
    target = line["target"]
    if target is None:
        return ""
    return f"{'<=' if line['better'] == 'lower' else '>='} {target:g}"


def _held(line: dict[str, Any]) -> str:
    """Whether ``line`` met its target, by best rounds and by the median round."""
    target = line["target"]
    if target is None:
        return ""
    lower = line["better"] == "lower"
    verdicts = (
        "yes" if (value <= target if lower else value >= target) else "no"
        for value in (line["best"], line["paired"])
        if value is not None
    )
    return " / ".join(verdicts)


def _headline_table(results: dict[str, Any]) -> list[str]:
    body = (
        [
            h["name"],
            _number(h["best"]),
            _number(h["paired"]),
            _number(h["cpu"]),
            h["better"],
            _target(h),
            _held(h),
            h["note"],
        ]
        for h in results["headline"]
    )
    header = [
        "ratio",
        "best rounds",
        "median per round",
        "CPU seconds",
        "better",
        "issue's target",
        "held (best / median)",
        "note",
    ]
    return ["## Headline ratios", "", *_table(header, body)]


def _server(results: dict[str, Any]) -> list[str]:
    lines = ["## Server", ""]
    concurrency = results.get("concurrency")
    if _ok(concurrency):
        rates = ", ".join(
            f"{k} client(s): {statistics.median(v):.2f} pictures/s"
            for k, v in concurrency["pictures_per_second"].items()
        )
        lines.append(f"- throughput at {concurrency['size']}, n={concurrency['n']}: {rates}")
    ready = results.get("ready")
    if _ok(ready):
        each = ", ".join(f"{t:.2f}" for t in ready["seconds"])
        lines.append(
            f"- time to ready (spawn to first 200 on /health): median "
            f"{ready['median']:.2f} s ({each})"
        )
    memory = results.get("memory")
    if _ok(memory):
        lines.append(
            f"- memory: {memory['idle_rss_mib']:.0f} MiB resident when ready; peak "
            f"{memory['peak_rss_mib']:.0f} MiB after {memory.get('requests', 1)} request(s) of "
            f"n={memory['n']} at {memory['size']} ({memory['source']})"
        )
    return [*lines, ""]


def _flops_section(results: dict[str, Any]) -> list[str]:
    flops = results.get("flops")
    if not _ok(flops):
        return []
    sizes = ", ".join(f"{s}: {v['gflop_per_picture']:.2f}" for s, v in flops.items())
    peaks = ", ".join(
        f"{k.removeprefix('peak_')}: {results[k]['best_gflops']:.1f} GFLOP/s best, "
        f"{results[k]['median_gflops']:.1f} median"
        for k in ("peak_start", "peak_end")
        if _ok(results.get(k))
    )
    return [
        "## Model FLOPs and the CPU's peak",
        "",
        f"- GFLOP per picture (all Conv layers, from the graph's shapes): {sizes}",
        f"- onnxruntime fp32 MatMul 2048^3 peak: {peaks}",
        "",
    ]


def _profile_section(results: dict[str, Any]) -> list[str]:
    profile = results.get("profile")
    if not _ok(profile):
        return [f"Profile failed: {profile}", ""] if profile else []
    ours, plain = profile["ours"], profile["plain_graph"]
    plain_ops = {r["name"]: r for r in plain["by_op"]}
    body = (
        [
            r["name"],
            f"{r['ms']:.0f}",
            f"{r['share']:.1%}",
            str(r["calls"]),
            f"{plain_ops[r['name']]['ms']:.0f}" if r["name"] in plain_ops else "",
        ]
        for r in ours["by_op"]
    )
    nodes = (
        [r["name"], f"{r['ms']:.0f}", f"{r['share']:.1%}", str(r["calls"])]
        for r in ours["by_node"][:8]
    )
    return [
        f"## onnxruntime profile at {profile['size']}, n={profile['n']}",
        "",
        *(_profile_line(label, p) for label, p in (("ours", ours), ("plain graph", plain))),
        "",
        *_table(["op", "ours ms", "share", "calls", "plain graph ms"], body),
        *_table(["node (ours)", "ms", "share", "calls"], nodes),
    ]


def _profile_line(label: str, profile: dict[str, Any]) -> str:
    return (
        f"- {label}: model runs {profile['model_run_ms']:.0f} ms, kernels "
        f"{profile['kernel_ms']:.0f} ms, of which Conv {profile['conv_ms']:.0f} ms for "
        f"{profile['conv_gflops_executed']:.1f} GFLOP as executed "
        f"({profile['conv_kernel_gflops_per_s']:.1f} GFLOP/s in Conv kernels)"
    )


def _stages_section(results: dict[str, Any]) -> list[str]:
    stages = results.get("stages")
    if not _ok(stages):
        return [f"Stages failed: {stages}", ""] if stages else []
    total = sum(s["total_ms"] for s in stages)
    outside = sum(s["total_ms"] for s in stages if not s["inside_model"])
    plan = results["plan"]
    body = (
        [
            s["name"],
            f"{s['ms']:.1f}",
            str(s["count"]),
            f"{s['total_ms']:.0f}",
            f"{s['total_ms'] / total:.1%}",
        ]
        for s in stages
    )
    return [
        f"## Pipeline stages, one request of n={plan['stages_n']} at {plan['stages_size']}",
        "",
        *_table(["stage", "ms each", "count", "ms total", "share"], body),
        f"Outside the model: {outside:.0f} ms of {total:.0f} ms ({outside / total:.1%}).",
        "",
    ]


def _encoders_section(results: dict[str, Any]) -> list[str]:
    encoders = results.get("encoders")
    if not _ok(encoders):
        return [f"Encoders failed: {encoders}", ""] if encoders else []
    width, height = encoders["size"]
    body = (
        [
            e["name"],
            f"{e['version']}",
            f"{e['ms']:.1f}",
            f"{e['bytes']:,}",
            "yes" if e["decodes_ok"] else "NO",
        ]
        for e in encoders["encoders"]
    )
    missing = [f"- not measured: {m['name']} ({m['reason']})" for m in encoders["missing"]]
    return [
        f"## Encoding one {width}x{height} output (median of {encoders['rounds']})",
        "",
        *_table(["encoder", "version", "ms", "bytes", "round-trips"], body),
        *missing,
        "",
    ]


def _errors(results: dict[str, Any]) -> list[str]:
    failed = [
        f"- {k}: {v['error']}" for k, v in results.items() if isinstance(v, dict) and "error" in v
    ]
    return ["## Errors", "", *failed, ""] if failed else []


def markdown(results: dict[str, Any]) -> str:
    rounds = results["plan"]["rounds"]
    lines = [
        f"# vary benchmark, {results['started']}",
        "",
        *_machine(results),
        f"Commit {results.get('commit')} (plus any uncommitted edits). Wall time "
        f"{results['wall_seconds']:.0f} s; rounds planned per size and n: {rounds}. Contenders run "
        "interleaved, order reversed every round.",
        "",
        *_headline_table(results),
        *_timing_tables(results),
        *_server(results),
        *_flops_section(results),
        *_profile_section(results),
        *_stages_section(results),
        *_encoders_section(results),
        *_errors(results),
    ]
    return "\n".join(lines)


def write_results(results: dict[str, Any], out: Path) -> str:
    """Write ``latest.json`` and ``latest.md`` into ``out``; return the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = markdown(results)
    (out / "latest.md").write_text(text + "\n")
    return text
