"""The HTML report of a published version: every analysis as charts, in one self-contained file.

Reads only a published version (never a run's candidate) and draws it with Plotly, whose JavaScript is
inlined once, so the file opens with no network. No dagster import: the CLI (`safetywash report`) and the
Dagster asset (`exports/report`) both call :func:`write_report`.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version as package_version
from pathlib import Path

import duckdb
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
from plotly.offline import get_plotlyjs

from .settings import BOOTSTRAP_OP, CAPABILITIES_OP, HIGH
from .warehouse import Store, query_frame

REPORT_FILE = "report.html"
LABELLED_DOTS = 60
"""up to this many models, every dot carries its model's name; above, the name shows on hover"""
WEBGL_DOTS = 2000
RESIDUALS_SHOWN = 10
TALL = 700  # px: a chart this tall has its x axis on top
_CONFIG = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"format": "svg"}}


@dataclass(frozen=True)
class Report:
    path: Path
    version: str
    analyses: list[str]
    """the analyses shown, in order; each section's anchor is :func:`anchor` of its name"""
    charts: int


def anchor(analysis: str) -> str:
    return f"analysis-{analysis}"


def write_report(store: Store, out_dir: Path | str | None = None, version: str | None = None) -> Report:
    """Render the published ``version`` (default: the current one) to ``out_dir/report.html``
    (default: ``<warehouse>/report``), replacing the file in one rename."""
    out = Path(out_dir) if out_dir else store.root / "report"
    info = store.version_info(version)
    with store.read(info["snapshot_id"], allow_files=True) as con:  # no user SQL: the shared instance
        page, analyses, charts = render(con, info)
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_FILE
    tmp = out / f".{REPORT_FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, exc.filename or str(path)) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return Report(path.resolve(), info["version"], analyses, charts)


def render(con: duckdb.DuckDBPyConnection, info: dict) -> tuple[str, list[str], int]:
    """The page (HTML text), the analyses it shows and how many charts it draws."""
    analyses = query_frame(con, "select * from marts.analyses order by rowid")  # the order of analyses.toml
    sections, charts = [], 0
    for row in analyses.iter_rows(named=True):
        body, n = _analysis_section(con, row)
        sections.append(body)
        charts += n
    coverage, n = _coverage_section(con)
    charts += n
    toc = "".join(
        f'<li><a href="#{anchor(a)}">{html.escape(a)}</a> — {html.escape(s)}</li>'
        for a, s in zip(analyses["analysis"], analyses["status"])
    )
    settings = info.get("settings") or {}
    boot = settings.get(BOOTSTRAP_OP, {})
    caps = settings.get(CAPABILITIES_OP, {})
    head = (
        f"<h1>safetywash report</h1><p class=lead>Does each safety benchmark measure something other than general "
        f"capabilities? For every analysis: each benchmark's Spearman correlation with the capabilities score "
        f"(PC1 of the capability inputs; Ren et al. 2024, arXiv 2407.21792), with bootstrap intervals over models. "
        f"A correlation at or above {HIGH} means the benchmark tracks capabilities.</p>"
        f"<p>Published version <code>{html.escape(info['version'])}</code>, published "
        f"{html.escape(str(info.get('published_at', ''))[:19])} UTC by run <code>{html.escape(str(info.get('run_id', '')))}</code>; "
        f"safetywash {html.escape(package_version('safetywash'))}; bootstrap B={boot.get('n_resamples')} "
        f"(an analysis may set fewer), seed {boot.get('seed')}, {boot.get('ci_method')} "
        f"{boot.get('confidence_level')} intervals; default capabilities method {caps.get('method')}.</p>"
        f"<nav><ol>{toc}<li><a href=#coverage>Coverage per source</a></li><li><a href=#provenance>Provenance</a></li></ol></nav>"
    )
    page = _PAGE.format(
        plotly=get_plotlyjs(),
        head=head,
        sections="".join(sections),
        coverage=coverage,
        provenance=_provenance_section(info, analyses),
        version=html.escape(info["version"]),
    )
    return page, analyses["analysis"].to_list(), charts


def _analysis_section(con: duckdb.DuckDBPyConnection, a: dict) -> tuple[str, int]:
    name = a["analysis"]
    header = (
        f'<section id="{anchor(name)}"><h2>{html.escape(name)}</h2><p>{html.escape(a["description"] or "")}</p>'
        f"<p class=meta>source <b>{html.escape(a['source'])}</b>"
        + (f" (model set {html.escape(a['model_set'])})" if a["model_set"] else "")
        + f"; population: {html.escape(a['population'])}; snapshot {a['snapshot_date'] or '-'}"
        + (f" (newest of {a['n_snapshots']})" if (a["n_snapshots"] or 0) > 1 else "")
        + (f"; inputs from <b>{html.escape(a['inputs_source'])}</b>" if a["inputs_source"] else "")
        + f"; {a['n_models']} models, {a['n_models_scored']} scored; capabilities method "
        f"{html.escape(a['capabilities_method'] or '-')}; missing values: {html.escape(a['missing'])}"
        + (
            {
                "per_resample": " (re-imputed in every bootstrap resample)",
                "once": " (imputed once: the intervals leave out the imputation's own uncertainty)",
            }.get(a["bootstrap_imputation"], "")
        )
        + f"</p><p class=status>status: {html.escape(a['status'])}</p>"
    )
    if a["status"] != "fitted":
        return header + "</section>", 0
    corr = query_frame(
        con,
        """
        select c.*, b.display_name from marts.benchmark_correlations c
        left join marts.benchmarks b using (source, benchmark)
        where c.analysis = ? order by benchmark""",
        [name],
    )
    inputs = set(a["capability_inputs"])
    parts, charts = [header], 0
    for chart in (
        _figure1(corr, inputs, name),
        _scatters(con, name),
        _loadings(con, name, a["snapshot"]),
        _compute(con, name, a["snapshot"]),
        _history(con, name, inputs, a["n_snapshots"] or 0),
    ):
        if chart is not None:
            parts.append(chart)
            charts += chart.count('class="plotly-graph-div"')
    parts.append(_residuals_table(con, name))
    parts.append(_coverage_of(con, a))
    parts.append("</section>")
    return "".join(parts), charts


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _label(name: str) -> str:
    """A name from a source as Plotly should draw it: as written. Plotly reads tags and entities in its
    text (``<b>``, ``&amp;``); escaped, ``<b>x</b>`` is drawn as those characters, not as bold."""
    return html.escape(str(name), quote=False)


def _labels(names: pl.Series) -> list[str]:
    return [_label(n) for n in names]


@cache
def _template() -> dict:
    return pio.templates["plotly_white"].to_plotly_json()


def _figure(fig: go.Figure | dict, div_id: str, title: str, note: str = "") -> str:
    """One chart's ``<figure>``. ``fig`` is a validated figure, or (where it has hundreds of traces, whose
    validation cost seconds) a plain figure dict of plotly's JSON schema. The template and title are set on
    its dict: validating them into every figure cost a deep copy of the template each."""
    fig = fig if isinstance(fig, dict) else fig.to_dict()
    fig["layout"].update(template=_template(), margin=dict(l=10, r=10, t=40, b=40), title=dict(text=title, x=0))
    div = pio.to_html(fig, full_html=False, include_plotlyjs=False, config=_CONFIG, div_id=div_id, validate=False)
    return f"<figure>{div}" + (f"<figcaption>{note}</figcaption>" if note else "") + "</figure>"


def _figure1(corr: pl.DataFrame, inputs: set[str], name: str) -> str:
    """The paper's Figure 1: every target's capabilities correlation with its interval, by safety area."""
    caps = corr.filter((pl.col("versus") == "capabilities") & ~pl.col("benchmark").is_in(list(inputs)))
    title = f"{name}: capabilities correlation of each benchmark (Figure 1)"
    inputs_only = caps.height == 0
    if inputs_only:  # every benchmark is a capability input: each against the score refitted without it
        caps = corr.filter((pl.col("versus") == "capabilities") & pl.col("benchmark").is_in(list(inputs)))
        caps = caps.with_columns(area=pl.lit("capability input, score refitted without it"))
        title = f"{name}: no target benchmark; each capability input against the score refitted without it"
    safety = caps.filter(pl.col("area").is_not_null() & (pl.col("area") != "capabilities"))
    shown = safety if safety.height else caps
    left_out = caps.height - shown.height
    undefined = shown.filter(pl.col("spearman").is_null())
    shown = shown.filter(pl.col("spearman").is_not_null()).with_columns(pl.col("area").fill_null("no safety area"))
    if shown.height == 0:
        return (
            "<p>No Figure 1: "
            + (
                f"the correlation of {_plural(undefined.height, 'benchmark')} "
                f"({html.escape(', '.join(undefined['benchmark'].to_list()))}) is undefined (fewer than 3 models "
                "with both values, or a constant column)."
                if undefined.height
                else "this analysis has no benchmark correlated with its capabilities score."
            )
            + "</p>"
        )
    shown = shown.with_columns(pl.col("spearman").mean().over("area").alias("area_mean")).sort(
        ["area_mean", "area", "spearman"]
    )
    labels = [f"{_label(b)} ({ar})" for b, ar in zip(shown["benchmark"], shown["area"])]
    fig = go.Figure()
    for area in shown["area"].unique(maintain_order=True):
        part = shown.filter(pl.col("area") == area)
        rho = part["spearman"].to_list()
        low = [r - x if x is not None else 0 for r, x in zip(rho, part["ci_low"])]
        high = [x - r if x is not None else 0 for r, x in zip(rho, part["ci_high"])]
        fig.add_trace(
            go.Scatter(
                x=rho,
                y=[f"{_label(b)} ({area})" for b in part["benchmark"]],
                mode="markers",
                name=area,
                error_x=dict(type="data", symmetric=False, array=high, arrayminus=low, thickness=1.2),
                customdata=list(zip(part["n_models"], part["ci_method"], part["ci_low"], part["ci_high"])),
                hovertemplate="%{y}<br>ρ = %{x:.3f} [%{customdata[2]:.3f}, %{customdata[3]:.3f}] "
                "(%{customdata[1]}), n = %{customdata[0]}<extra></extra>",
            )
        )
    fig.add_vrect(
        x0=HIGH,
        x1=1.0,
        fillcolor="#d62728",
        opacity=0.08,
        line_width=0,
        annotation_text=f"tracks capabilities (ρ ≥ {HIGH})",
        annotation_position="top left" if 16 * shown.height + 140 > TALL else "bottom left",
    )
    fig.add_vline(x=0, line_width=1, line_color="#888")
    fig.update_yaxes(categoryorder="array", categoryarray=labels, automargin=True)
    height = max(320, 16 * shown.height + 140)
    fig.update_xaxes(
        range=[-1.05, 1.05],
        title="Spearman correlation with the capabilities score",
        side="top" if height > TALL else "bottom",
    )  # a tall chart's axis where the reader starts
    fig.update_layout(height=height, legend_title_text="area")
    ci = shown["ci_method"].unique().sort().to_list()
    areas = shown.group_by("area", maintain_order=True).len()
    note = (
        f"Areas: {html.escape(', '.join(f'{a} ({n})' for a, n in areas.iter_rows()))}. "
        f"{_plural(shown.height, 'benchmark')}, {', '.join(ci)} {shown['confidence_level'][0]:.0%} intervals, "
        f"B = {shown['n_resamples'].max()}, seed {shown['bootstrap_seed'][0]}."
    )
    if left_out:
        note += (
            f" {_plural(left_out, 'other benchmark')} of this analysis {'has' if left_out == 1 else 'have'} no "
            f"safety area in the paper's taxonomy and {'is' if left_out == 1 else 'are'} not drawn (see "
            "<code>marts.benchmark_correlations</code>)."
        )
    if undefined.height:
        note += f" Undefined, not drawn: {html.escape(', '.join(undefined['benchmark'].to_list()))}."
    return _figure(fig, f"{anchor(name)}-figure1", title, note)


def _scatters(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """Per target benchmark, its scores against the capabilities score (one dot per model), with the least-squares
    line of ``marts.safety_residuals``; a menu picks the benchmark."""
    rows = query_frame(
        con,
        """
        select benchmark, model_id, capabilities_score, observed, expected from marts.safety_residuals
        where analysis = ? order by benchmark, capabilities_score""",
        [name],
    )
    if rows.height == 0:
        return None
    benchmarks = sorted(rows["benchmark"].unique().to_list(), key=lambda b: (b.casefold(), b))
    traces, buttons = [], []
    for i, bench in enumerate(benchmarks):
        part = rows.filter(pl.col("benchmark") == bench)
        labelled = part.height <= LABELLED_DOTS
        traces.append(
            dict(
                type="scattergl" if part.height > WEBGL_DOTS else "scatter",
                x=part["capabilities_score"].to_list(),
                y=part["observed"].to_list(),
                text=_labels(part["model_id"]),
                mode="markers+text" if labelled else "markers",
                textposition="top center",
                textfont=dict(size=9),
                name=_label(bench),
                visible=i == 0,
                marker=dict(size=7 if labelled else 4),
                hovertemplate="%{text}<br>capabilities %{x:.3f}<br>score %{y:.4g}<extra></extra>",
            )
        )
        traces.append(
            dict(
                type="scatter",
                x=part["capabilities_score"].to_list(),
                y=part["expected"].to_list(),
                mode="lines",
                name="least-squares line",
                visible=i == 0,
                line=dict(color="#888", dash="dot"),
                hoverinfo="skip",
            )
        )
        visible = [False] * (2 * len(benchmarks))
        visible[2 * i] = visible[2 * i + 1] = True
        buttons.append(dict(label=_label(bench), method="update", args=[{"visible": visible}]))
    fig = dict(  # one trace pair per benchmark, hundreds in all: plain dicts, not validated plotly objects
        data=traces,
        layout=dict(
            height=520,
            showlegend=False,
            updatemenus=[dict(buttons=buttons, direction="down", x=1, xanchor="right", y=1.12, yanchor="top")],
            xaxis=dict(title=dict(text="capabilities score")),
            yaxis=dict(title=dict(text="benchmark score (higher = better/safer)")),
        ),
    )
    div_id = f"{anchor(name)}-scatter"
    chart = _figure(
        fig,
        div_id,
        f"{name}: each benchmark against the capabilities score",
        f"{_plural(len(benchmarks), 'benchmark')} (pick one in the menu, or type its name in the box), one "
        "dot per model; the dotted line is the least-squares fit whose residuals are the differential "
        "progress below.",
    )
    if len(benchmarks) < 2:
        return chart
    options = "".join(f'<option value="{html.escape(b)}">' for b in benchmarks)
    names = json.dumps(benchmarks).replace("</", "<\\/")
    search = (
        f'<label class=pick>benchmark: <input list="{div_id}-names" id="{div_id}-search" '
        f'placeholder="type to search {len(benchmarks)} benchmarks" autocomplete=off></label>'
        f'<datalist id="{div_id}-names">{options}</datalist>'
        f"<script>(function(){{var names={names},box=document.getElementById('{div_id}-search');"
        "box.addEventListener('change',function(){var i=names.indexOf(box.value);if(i<0)return;"
        "var vis=[];for(var j=0;j<names.length;j++){vis.push(j===i,j===i);}"
        f"Plotly.restyle('{div_id}',{{visible:vis}});}});}})();</script>"
    )
    return search + chart


def _loadings(con: duckdb.DuckDBPyConnection, name: str, snapshot: str) -> str | None:
    comp = query_frame(
        con,
        """select benchmark, loading, variance_explained, n_models, method
        from marts.capabilities_components where analysis = ? and snapshot = ? order by loading desc""",
        [name, snapshot],
    )
    if comp.height == 0:
        return None
    fig = go.Figure(
        go.Bar(
            x=comp["loading"].to_list(),
            y=_labels(comp["benchmark"]),
            orientation="h",
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_layout(height=max(260, 24 * comp.height + 120), xaxis_title="PC1 loading")
    return _figure(
        fig,
        f"{anchor(name)}-loadings",
        f"{name}: PC1 loadings; PC1 explains {comp['variance_explained'][0]:.1%} of the variance",
        f"{comp['method'][0]} method over {comp['n_models'][0]} models.",
    )


def _compute(con: duckdb.DuckDBPyConnection, name: str, snapshot: str) -> str | None:
    scores = query_frame(
        con,
        """select model_id, capabilities_score, training_flop from marts.capabilities_scores
        where analysis = ? and snapshot = ? and capabilities_score is not null""",
        [name, snapshot],
    )
    known = scores.filter(pl.col("training_flop").is_not_null() & (pl.col("training_flop") > 0))
    if known.height < 3:
        return (
            f"<p>Capabilities score vs training compute: only {known.height} of {scores.height} scored models have "
            "a known training compute; no chart.</p>"
        )
    labelled = known.height <= LABELLED_DOTS
    fig = go.Figure(
        (go.Scattergl if known.height > WEBGL_DOTS else go.Scatter)(
            x=known["training_flop"].to_list(),
            y=known["capabilities_score"].to_list(),
            text=_labels(known["model_id"]),
            mode="markers+text" if labelled else "markers",
            textposition="top center",
            textfont=dict(size=9),
            hovertemplate="%{text}<br>%{x:.3g} FLOP<br>capabilities %{y:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(type="log", title="training compute (FLOP, log scale)")
    fig.update_layout(height=480, yaxis_title="capabilities score")
    return _figure(
        fig,
        f"{anchor(name)}-compute",
        f"{name}: capabilities score vs training compute",
        f"{known.height} of {scores.height} scored models have a known training compute.",
    )


def _history(con: duckdb.DuckDBPyConnection, name: str, inputs: set[str], n_snapshots: int) -> str | None:
    if n_snapshots < 2:
        return None
    hist = query_frame(
        con,
        """select benchmark, snapshot_date, n_models, spearman, ci_low, ci_high
        from marts.correlation_history where analysis = ? and versus = 'capabilities' and spearman is not null
        order by benchmark, snapshot_date""",
        [name],
    ).filter(~pl.col("benchmark").is_in(list(inputs)))
    if hist.height == 0:
        return None
    fig = go.Figure()
    for i, bench in enumerate(hist["benchmark"].unique(maintain_order=True)):
        part = hist.filter(pl.col("benchmark") == bench)
        dates = [d.isoformat() for d in part["snapshot_date"]]
        color = _COLORS[i % len(_COLORS)]
        fig.add_trace(
            go.Scatter(
                x=dates,
                y=part["ci_high"].to_list(),
                mode="lines",
                line=dict(width=0),
                showlegend=False,
                hoverinfo="skip",
                legendgroup=bench,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=dates,
                y=part["ci_low"].to_list(),
                mode="lines",
                line=dict(width=0),
                fill="tonexty",
                fillcolor=_rgba(color, 0.2),
                showlegend=False,
                hoverinfo="skip",
                legendgroup=bench,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=dates,
                y=part["spearman"].to_list(),
                mode="lines+markers",
                name=_label(bench),
                line=dict(color=color),
                legendgroup=bench,
                customdata=part["n_models"].to_list(),
                hovertemplate="%{x}: ρ = %{y:.3f}, n = %{customdata}<extra>" + _label(bench) + "</extra>",
            )
        )
    fig.add_hrect(y0=HIGH, y1=1.0, fillcolor="#d62728", opacity=0.06, line_width=0)
    low = min(v for v in [*hist["ci_low"].drop_nulls().to_list(), *hist["spearman"].to_list()])
    fig.update_yaxes(
        range=[min(low, HIGH) - 0.05, 1.02]
    )  # the lines' range and the shaded band's edge, not the band alone
    fig.update_layout(height=440, xaxis_title="snapshot date", yaxis_title="Spearman ρ with the capabilities score")
    return _figure(
        fig,
        f"{anchor(name)}-history",
        f"{name}: capabilities correlation per snapshot, with its interval band",
        f"{hist['snapshot_date'].n_unique()} of the {n_snapshots} snapshots read have a defined correlation "
        f"(the others: fewer than 3 models with both values; every row is in "
        f"<code>marts.correlation_history</code>), from {hist['snapshot_date'].min()} to "
        f"{hist['snapshot_date'].max()}; n (models with both values) from {hist['n_models'].min()} to "
        f"{hist['n_models'].max()} where defined.",
    )


_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _table(frame: pl.DataFrame, caption: str = "") -> str:
    def cell(v: object) -> str:
        if v is None:
            return "<td class=null>–</td>"
        if isinstance(v, float):
            return f"<td class=num>{v:.4g}</td>"
        if isinstance(v, int):
            return f"<td class=num>{v}</td>"
        return f"<td>{html.escape(str(v))}</td>"

    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in frame.iter_rows())
    cap = f"<caption>{caption}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _residuals_table(con: duckdb.DuckDBPyConnection, name: str) -> str:
    res = query_frame(
        con,
        """select benchmark, model_id, capabilities_score, observed, expected, residual, residual_z
        from marts.safety_residuals where analysis = ? and residual_z is not null""",
        [name],
    )
    if res.height == 0:
        return "<p>No differential-progress residuals (no target benchmark with a fitted line).</p>"
    top = res.sort(["residual_z", "benchmark", "model_id"], descending=[True, False, False]).head(RESIDUALS_SHOWN)
    bottom = res.sort(["residual_z", "benchmark", "model_id"]).head(RESIDUALS_SHOWN)
    return (
        "<h3>Differential progress</h3><p>Scores beyond what the capabilities score predicts (least-squares line per "
        "benchmark; <code>residual_z</code> is the residual over its benchmark's residual standard deviation), over "
        f"{res.height} (model, benchmark) pairs. All of them: <code>marts.safety_residuals</code>.</p>"
        "<div class=pair>"
        + _table(top, f"Higher (better or safer) than their capabilities explain (top {RESIDUALS_SHOWN})")
        + _table(bottom, f"Lower than their capabilities explain (bottom {RESIDUALS_SHOWN})")
        + "</div>"
    )


def _coverage_of(con: duckdb.DuckDBPyConnection, a: dict) -> str:
    excluded = json.loads(a["excluded"] or "{}")
    imputed = con.execute(
        """select coalesce(sum(imputed_inputs), 0), count(*) filter (where imputed_inputs > 0)
        from marts.capabilities_scores where analysis = ? and snapshot = ?""",
        [a["analysis"], a["snapshot"]],
    ).fetchall()[0]
    rows = [
        ("models in the population", a["n_models"]),
        ("models scored", a["n_models_scored"]),
        ("observed (model, input) cells", f"{a['coverage']:.1%}" if a["coverage"] is not None else "-"),
        ("missing-value method", a["missing"]),
        ("imputed cells (models)", f"{imputed[0]} ({imputed[1]})"),
    ]
    rows += [(f"excluded: {reason}", n) for reason, n in excluded.items()]
    frame = pl.DataFrame({"coverage": [r[0] for r in rows], "value": [str(r[1]) for r in rows]})
    return "<h3>Coverage</h3>" + _table(frame)


def _coverage_section(con: duckdb.DuckDBPyConnection) -> tuple[str, int]:
    per_source = query_frame(
        con,
        """
        with names as (select source, count(distinct raw_name) as names from marts.model_identity group by source),
        unmatched as (select source, count(distinct raw_name) as unmatched from marts.unmatched_models group by source),
        final as (
            select source, names, names - coalesce(unmatched, 0) as matched, coalesce(unmatched, 0) as unmatched
            from names left join unmatched using (source)
        )
        select * from final order by source""",
    )
    fig = go.Figure(
        [
            go.Bar(
                name="matched in another source", x=per_source["source"].to_list(), y=per_source["matched"].to_list()
            ),
            go.Bar(name="unmatched", x=per_source["source"].to_list(), y=per_source["unmatched"].to_list()),
        ]
    )
    fig.update_layout(barmode="stack", height=380, yaxis_title="model names")
    chart = _figure(
        fig,
        "coverage-sources",
        "Models matched and unmatched per source",
        "A name is matched when its model_key (identity rules or a reviewed alias) is found in another "
        "source; unmatched names are listed with a suggestion in <code>marts.unmatched_models</code>, "
        "never joined by similarity.",
    )
    return f'<section id="coverage"><h2>Coverage per source</h2>{chart}{_table(per_source)}</section>', 1


def _provenance_section(info: dict, analyses: pl.DataFrame) -> str:
    sources = pl.DataFrame(
        info.get("sources") or [],
        schema={
            "source": pl.String,
            "snapshots": pl.Int64,
            "snapshot": pl.String,
            "sha256": pl.String,
            "snapshot_at": pl.String,
        },
    )
    sources = sources.rename({"sha256": "content_sha256"})
    per_analysis = analyses.select(
        "analysis",
        "source",
        "snapshot",
        "snapshot_date",
        "inputs_source",
        "inputs_snapshot",
        "capabilities_method",
        "resamples",
    )
    settings = json.dumps(info.get("settings") or {}, indent=1, sort_keys=True)
    return (
        '<section id="provenance"><h2>Provenance</h2>'
        f"<p>Version <code>{html.escape(info['version'])}</code> of the warehouse; safetywash "
        f"{html.escape(package_version('safetywash'))}. A snapshot is named by the git commit it is pinned to "
        "(40 hex digits), or, first seen at a source's latest address, by its date and the first 12 hex digits of "
        "its sha256; <code>content_sha256</code> is the sha256 of its file (of its files' names and sha256 when it "
        "has several).</p>"
        + _table(sources, "Sources: newest snapshot of each (and how many are kept)")
        + _table(per_analysis, "Analyses: the snapshot each reads (resamples null: the run's B)")
        + f"<h3>Run settings</h3><pre>{html.escape(settings)}</pre></section>"
    )


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>safetywash report {version}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1180px; padding: 0 20px 60px; color: #222; }}
h1 {{ margin-top: 28px; }} h2 {{ border-top: 2px solid #ddd; padding-top: 18px; margin-top: 40px; }}
code {{ background: #f3f3f3; padding: 0 3px; }} .meta, figcaption, caption {{ color: #555; font-size: 13px; }}
.status {{ font-weight: 600; }} figure {{ margin: 14px 0; }}
table {{ border-collapse: collapse; font-size: 12.5px; margin: 10px 0; display: block; overflow-x: auto; max-width: 100%; }}
caption {{ text-align: left; }} code, td {{ overflow-wrap: anywhere; }} .pick {{ font-size: 13px; }}
th, td {{ border-bottom: 1px solid #e5e5e5; padding: 3px 8px; text-align: left; }} td.num {{ text-align: right; }}
td.null {{ color: #aaa; }} .pair {{ display: flex; gap: 24px; flex-wrap: wrap; }} pre {{ background: #f7f7f7; padding: 8px; white-space: pre-wrap; overflow-wrap: anywhere; }}
</style>
<script>{plotly}</script></head>
<body>{head}{sections}{coverage}{provenance}</body></html>
"""
