"""The source registry as data: its pins against the mirror's index, every pinned file through its
adapter, and the loader's errors."""

import csv
import hashlib

import pytest

from assets.registry import ADAPTERS, RegistryError, load_registry, load_source
from assets.resources import Fetcher
from conftest import MIRROR

pytestmark = pytest.mark.unit

REGISTRY = load_registry()


def index() -> dict[str, tuple[str, str]]:
    with open(MIRROR / "INDEX.tsv", newline="") as fh:
        return {r["url"]: (r["sha256"], r["commit_date"]) for r in csv.DictReader(fh, delimiter="\t")}


def test_every_pin_matches_the_mirror_index_and_only_known_files_are_left_out():
    idx = index()
    registered = set()
    for source in REGISTRY.values():
        for snap in source.snapshots:
            for f in snap.files:
                assert idx[f.url] == (f.sha256, snap.date), f.url
                registered.add(f.url)
        registered.update(u for u in source.latest if u in idx)
    left_out = {u.removeprefix("https://raw.githubusercontent.com/") for u in set(idx) - registered}
    assert left_out == {
        # main of the paper's repository: the pinned commit ab48125 is it plus FLOP for the Gemma-1.1 chat models
        "centerforaisafety/safetywashing/bee302c11f174afb064d721123b16b810d34f4fd/data/benchmarks_base_models.csv",
        "centerforaisafety/safetywashing/bee302c11f174afb064d721123b16b810d34f4fd/data/benchmarks_chat_models.csv",
        "centerforaisafety/safetywashing/bee302c11f174afb064d721123b16b810d34f4fd/data/benchmarks_info.csv",
        # signed differences beside scores: no scale is declared for them
        "ryoungj/ObsScaling/4d6e1e43fd2635d04654aa77d1df9d5266ea0382/eval_results/base_llm_post_training_eval.csv",
        # per-sample outputs, not results
        "evaleval/every_eval_ever/9bce4136e789ec006c62582f5f9d107d20f8b398/tests/data/lm_eval/"
        "samples_math_perturbed_full_2026-01-21T03-44-18.458309.jsonl",
    }


def test_arena_history_and_its_latest_address():
    arena = REGISTRY["arena"]
    names = [f.name for s in arena.snapshots for f in s.files]
    assert names.count("lmsys.csv") == 88 and names.count("lmarena_text.csv") == 5
    assert [s.date for s in arena.snapshots] == sorted(s.date for s in arena.snapshots)
    assert arena.snapshots[0].date.startswith("2024-06-19") and arena.latest == (
        "https://raw.githubusercontent.com/fboulnois/llm-leaderboard-csv/main/csv/lmarena_text.csv",
    )
    shas = [f.sha256 for s in arena.snapshots for f in s.files]
    assert len(set(shas)) < len(shas)  # identical bytes under two addresses: one snapshot when ingested


@pytest.mark.parametrize("name", sorted(n for n, r in REGISTRY.items() if r.format in ADAPTERS))
def test_every_pinned_file_fetches_verifies_and_parses(name):
    source = REGISTRY[name]
    fetcher = Fetcher(mirror=str(MIRROR))
    parse = ADAPTERS[source.format]
    rows = 0
    for snap in source.snapshots:
        for f in snap.files:
            data = fetcher.get(f.url)
            assert hashlib.sha256(data).hexdigest() == f.sha256
            parsed = parse(data, source=name, file=f.name)
            rows += parsed.scores.height + parsed.models.height
    assert rows > 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("name = ", "not TOML"),
        ('name = "other"\n', "differs from the file name"),
        ('name = "demo"\nformat = "xml"\n', "format 'xml' is not one of"),
        ('name = "demo"\nformat = "arena_csv"\nlatest = ["ftp://x"]\n', "must be a list of https:// addresses"),
        (
            'name = "demo"\nformat = "arena_csv"\n[[snapshots]]\nid = "a"\ndate = "2024-01-01"\n[[snapshots.files]]\n'
            'name = "f.csv"\nurl = "https://h/f.csv"\nsha256 = "abc"\n',
            r"snapshots\[0\].files\[0\]: sha256 'abc' is not 64 hex",
        ),
        (
            'name = "demo"\nformat = "arena_csv"\ndescription = "d"\nlicence = "l"\n',
            "neither pinned snapshots nor a latest",
        ),
    ],
)
def test_malformed_registry_files_are_named(tmp_path, text, message):
    path = tmp_path / "demo.toml"
    path.write_text(text)
    with pytest.raises(RegistryError, match=message) as info:
        load_source(path)
    assert str(info.value).startswith(str(path))
