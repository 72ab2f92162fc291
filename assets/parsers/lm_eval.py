"""lm-evaluation-harness output (``results_*.json`` of lm-eval 0.4.x): a user's own evaluation runs.

``results[task]["<metric>,<filter>"]`` holds a value and ``"<metric>_stderr,<filter>"`` its standard error
(``"N/A"`` when there is none); ``higher_is_better[task][metric]`` gives the direction, which is required
(never assumed); ``n-shot[task]`` the shots; ``config.model_args`` (``pretrained=<repo>,…``) names the model.
Each (task, metric, filter) lands as benchmark ``<task>/<metric>`` (``/<filter>`` added unless ``none``).
"""

from __future__ import annotations

import json
import math

from . import ParseError
from .contract import sniff
from .leaderboard import Builder, Leaderboard

FRACTION_METRICS = {
    "acc",
    "acc_norm",
    "exact_match",
    "f1",
    "mc1",
    "mc2",
    "em",
    "pass@1",
    "prompt_level_strict_acc",
    "inst_level_strict_acc",
    "prompt_level_loose_acc",
    "inst_level_loose_acc",
    "brier_score",
    "bleu_acc",
}


def _refuse_constant(name: str) -> float:
    raise ValueError(name)  # NaN, Infinity, -Infinity: JSON extensions Python would otherwise accept


def _model(config: dict) -> str | None:
    args = config.get("model_args") or ""
    if isinstance(args, dict):
        return args.get("pretrained")
    parts = dict(p.split("=", 1) for p in str(args).split(",") if "=" in p)
    return parts.get("pretrained") or config.get("model_name")


def parse_lm_eval(data: bytes, *, source: str, file: str) -> Leaderboard:
    """Parse one lm-eval ``results_*.json`` into the long form (one model, one row per task metric)."""
    sniff(data, source, file)
    try:
        doc = json.loads(data.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise ParseError(source, file, None, f"not UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ParseError(source, file, exc.lineno, f"not JSON: {exc.msg} (column {exc.colno})") from None
    except ValueError as exc:
        raise ParseError(source, file, None, f"{exc} is not a finite number") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict) or not isinstance(doc.get("config"), dict):
        raise ParseError(source, file, None, "not an lm-eval results file: needs objects 'results' and 'config'")
    model = _model(doc["config"])
    if not model:
        raise ParseError(source, file, None, "config.model_args names no model (pretrained=...)")
    directions = doc.get("higher_is_better") or {}
    shots = doc.get("n-shot") or {}
    out = Builder()
    for task, metrics in sorted(doc["results"].items()):
        for key, value in sorted(metrics.items()):
            if key == "alias" or "," not in key or key.split(",")[0].endswith("_stderr"):
                continue
            metric, filt = key.split(",", 1)
            if metric not in (directions.get(task) or {}):
                raise ParseError(
                    source, file, None, f"task {task!r}: no higher_is_better for metric {metric!r}; refusing to assume"
                )
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ParseError(source, file, None, f"task {task!r}, {key!r}: {value!r} is not a finite number")
            stderr = metrics.get(f"{metric}_stderr,{filt}")
            stderr = float(stderr) if isinstance(stderr, (int, float)) and not isinstance(stderr, bool) else None
            bench = f"{task}/{metric}" + ("" if filt == "none" else f"/{filt}")
            out.benchmark(
                bench,
                key,
                "fraction" if metric in FRACTION_METRICS else "score",
                bool(directions[task][metric]),
                f"lm-eval task {task}, metric {metric}, filter {filt}, {shots.get(task, '?')}-shot",
            )
            out.score(model, bench, float(value), 1, stderr=stderr)
    if not out.benchmarks:
        raise ParseError(source, file, None, "no task results")
    config = doc["config"]
    out.model(
        model,
        1,
        model_args=str(config.get("model_args")),
        model_sha=config.get("model_sha"),
        parameters=config.get("model_num_parameters"),
        lm_eval_version=doc.get("lm_eval_version"),
        evaluated_at=doc.get("date"),
    )
    return out.build([])
