"""`exports/report`, the asset: the HTML report of the version just published, a link to each analysis's charts."""

import dagster as dg

from .report import anchor, write_report
from .resources import Warehouse
from .warehouse import WRITER_POOL
from .keys import PUBLISHED_KEY, REPORT_KEY

REPORT_OBJECT = "report/report.html"


@dg.asset(
    key=REPORT_KEY,
    group_name="exports",
    deps=[PUBLISHED_KEY],
    kinds={"html", "plotly"},
    pool=WRITER_POOL,
    description="`<warehouse>/report/report.html`: the published version drawn as one self-contained page (Plotly, "
    "no network needed): per analysis the Figure-1 chart of capabilities correlations with intervals, each benchmark "
    "against the capabilities score, the PC1 loadings, capabilities vs training compute, the correlation history, "
    "differential progress, coverage and provenance. `safetywash report` writes the same. With the objects on S3 "
    "(distributed profile) it is also `report/report.html` there, which `safetywash refresh` copies into its own folder.",
)
def report(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    store = warehouse.store
    written = write_report(store)
    uri, where = written.path.as_uri(), str(written.path)
    if store.objects.is_s3:  # written on a worker: shared through the objects, for the launching CLI to fetch
        store.objects.put(REPORT_OBJECT, written.path.read_bytes())
        uri = where = store.objects.url(REPORT_OBJECT)
    context.log.info(f"report of version {written.version}: {where} ({written.charts} charts)")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(where),
            "version": written.version,
            "charts": written.charts,
            # a browser refuses a file:// link from a web page (the UI): a local report's sections are paths to open
            **{
                f"chart/{name}": (
                    dg.MetadataValue.url(f"{uri}#{anchor(name)}")
                    if uri.startswith(("http://", "https://"))
                    else dg.MetadataValue.path(f"{where}#{anchor(name)}")
                )
                for name in written.analyses
            },
        }
    )
