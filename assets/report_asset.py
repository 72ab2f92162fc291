"""The report asset: the HTML report of the version just published, with a link to each analysis's charts."""

import dagster as dg

from .publish import PUBLISHED_KEY
from .report import anchor, write_report
from .resources import Warehouse
from .warehouse import WRITER_POOL

REPORT_KEY = dg.AssetKey(["exports", "report"])


@dg.asset(
    key=REPORT_KEY,
    group_name="exports",
    deps=[PUBLISHED_KEY],
    kinds={"html", "plotly"},
    pool=WRITER_POOL,
    description="`<warehouse>/report/report.html`: the published version drawn as one self-contained page (Plotly, "
    "no network needed): per analysis the Figure-1 chart of capabilities correlations with intervals, each benchmark "
    "against the capabilities score, the PC1 loadings, capabilities vs training compute, the correlation history, "
    "differential progress, coverage and provenance. `safetywash report` writes the same.",
)
def report(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    written = write_report(warehouse.store)
    context.log.info(f"report of version {written.version}: {written.path} ({written.charts} charts)")
    uri = written.path.as_uri()
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(written.path)),
        "version": written.version,
        "charts": written.charts,
        **{f"chart/{name}": dg.MetadataValue.url(f"{uri}#{anchor(name)}") for name in written.analyses},
    })
