"""Model identity coverage on the mirror: how many names `assets/model_keys.py` joins across sources.

Run: uv run python benchmarks/identity.py [WAREHOUSE]   (default: a fresh warehouse refreshed from the
mirror at $SAFETYWASH_MIRROR or ../shared/data/mirror, ~30 s). Prints one line per pair of sources:
matches by rule, and the names left unmatched on the smaller side.
"""

import contextlib
from collections import Counter
import io
import os
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from assets.model_keys import match, model_key  # noqa: E402
from assets.warehouse import Store  # noqa: E402

MIRROR = Path(os.environ.get("SAFETYWASH_MIRROR") or PROJECT.parent / "shared" / "data" / "mirror").resolve()
NAMES = {
    "arena (newest)": "select distinct model_id from marts.scores_latest where source = 'arena'",
    "epoch_hub (>= 3 benchmarks)": """select json_extract_string(attributes, '$.model_version') v from marts.models
        where source = 'epoch_hub' and v is not null group by v having count(distinct source_file) >= 3""",
    "safetywashing chat": "select distinct model_id from marts.models where source = 'safetywashing' and model_set = 'chat'",
    "open_llm_v2 (newest)": """select distinct json_extract_string(attributes, '$.model_name') from marts.models
        where source = 'open_llm_v2' and snapshot = (select max(snapshot) from marts.scores_latest where source = 'open_llm_v2')""",
}
OLL_ROWS = """select json_extract_string(attributes, '$.model_name') from marts.models where source = 'open_llm_v2'
    and snapshot = (select max(snapshot) from marts.scores_latest where source = 'open_llm_v2')"""
PAIRS = [
    ("arena (newest)", "epoch_hub (>= 3 benchmarks)"),
    ("safetywashing chat", "arena (newest)"),
    ("arena (newest)", "open_llm_v2 (newest)"),
]


def main() -> None:
    if len(sys.argv) > 1:
        root = Path(sys.argv[1])
    else:
        from assets.resources import Fetcher, Warehouse
        from orchestration.definitions import defs
        from orchestration.runs import refresh_in_process

        root = Path(tempfile.mkdtemp(prefix="safetywash-identity-"))
        with contextlib.redirect_stdout(io.StringIO()):
            refresh_in_process(
                defs,
                Warehouse(directory=str(root)),
                Fetcher(mirror=str(MIRROR)),
                {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
                quiet=True,
            )
    with Store(root).read() as con:
        names = {label: [r[0] for r in con.execute(sql).fetchall()] for label, sql in NAMES.items()}
        oll_rows = [r[0] for r in con.execute(OLL_ROWS).fetchall()]
    for left, right in PAIRS:
        found = match(names[left], names[right])
        by_rule = {rule: sum(m.rule == rule for m in found) for rule in ("exact", "undated")}
        small = min((left, right), key=lambda k: len(names[k]))
        joined = {m.left for m in found} | {m.right for m in found}
        left_out = sorted(n for n in names[small] if n not in joined)
        print(
            f"{left} ({len(names[left])}) x {right} ({len(names[right])}): {len(found)} matched {by_rule}; "
            f"unmatched in {small}: {len(left_out)}" + (f" {left_out}" if len(left_out) <= 10 else "")
        )
    # the Open LLM Leaderboard lists one model in several rows (precision, commit): rows whose name's key is
    # the key of exactly one newest-snapshot Arena model
    arena_keys = Counter(model_key(n).key for n in names["arena (newest)"])
    rows = [r for r in oll_rows if r is not None and arena_keys.get(model_key(r).key) == 1]
    print(
        f"open_llm_v2 rows (newest) joined to one Arena model: {len(rows)} rows of "
        f"{len({model_key(r).key for r in rows})} Arena models"
    )


if __name__ == "__main__":
    main()
