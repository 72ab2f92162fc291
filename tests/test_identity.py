"""Model identity on real names from the mirror: pairs that must join, pairs that must not."""

import pytest

from assets.model_keys import Alias, match, model_key
from conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "a, b",
    [
        ("meta-llama/Llama-2-13b-chat-hf", "Llama-2-13b-chat"),  # HF id vs Arena
        ("Meta-Llama-3-70B-Instruct", "Llama-3-70B-Instruct"),  # Safetywashing vs Arena
        ("Claude Opus 4 (20250514)", "claude-opus-4-20250514"),  # Arena vs Epoch
        ("ChatGPT-4o-latest (2025-03-26)", "chatgpt-4o-latest-20250326"),
        ("chatgpt-4o-03-27-2025", "ChatGPT-4o 2025-03-27"),  # Epoch's month-day-year
        ("Claude Sonnet 4 (thinking-32k)", "claude-sonnet-4_32K"),
        ("o3-2025-04-16", "o3-2025-04-16_medium"),  # an undated o-series effort is the default, medium
        ("o3-mini-high", "o3-mini_high"),
        ("Phi-3-Mini-4k-Instruct", "microsoft/Phi-3-mini-4k-instruct"),
        ("Claude 3.5 Sonnet (20240620)", "claude-3-5-sonnet-20240620"),  # Arena vs Epoch: a version with a hyphen
        ("Claude 3.5 Haiku (20241022)", "claude-3-5-haiku-20241022"),
        ("phi-1_5", "Phi-1.5"),
    ],
)
def test_same_model_same_key(a, b):
    assert model_key(a).key == model_key(b).key


@pytest.mark.parametrize(
    "a, b",
    [
        ("Llama-2-7b-chat-hf", "Llama-2-70b-chat-hf"),  # sizes
        ("Mistral-7B-Instruct-v0.1", "Mistral-7B-Instruct-v0.2"),  # versions
        ("gemma-3-12b-it", "gemma-3-27b-it"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-08-06"),  # dates
        ("Qwen2.5-72B-Instruct", "Qwen2-72B-Instruct"),
        ("o3-mini-2025-01-31_high", "o3-mini-2025-01-31_low"),  # efforts
        ("claude-opus-4-20250514_16K", "claude-opus-4-20250514_32K"),  # thinking budgets
        ("Gemini-1.5-Pro-001", "Gemini-1.5-Pro-002"),
        ("gemma-2-9b", "gemma-2.9b"),  # a size after a version is not a version
        ("Claude 3.5 Sonnet (20240620)", "claude-3-5-sonnet-20241022"),
        ("Mistral Medium", "Mistral-7B-Instruct-v0.1_medium"),  # a tier, not a reasoning effort
    ],
)
def test_different_models_different_keys(a, b):
    assert model_key(a).key != model_key(b).key


def test_rules_are_recorded():
    assert model_key("meta-llama/Llama-2-13b-chat-hf").rules == ("org_prefix", "hf_suffix")
    assert model_key("o3-mini-2025-01-31_high") == model_key("o3-mini (2025-01-31) high")
    assert model_key("o3-mini-2025-01-31_high").key == "o3-mini-20250131@high"
    assert model_key("claude-3-5-sonnet-20240620").rules == ("date", "version_dots")
    assert model_key("Mistral Medium").key == "mistral-medium"


def test_match_joins_one_to_one_and_drops_a_date_only_against_an_undated_name():
    arena = ["Claude 3 Opus", "GPT-4o-2024-05-13", "GPT-4o-2024-08-06", "o1-mini", "Llama-2-70b-chat", "Yi-34B-Chat"]
    epoch = [
        "claude-3-opus-20240229",
        "gpt-4o-2024-11-20",
        "gpt-4o-2024-08-06",
        "o1-mini-2024-09-12_medium",
        "Llama-2-7b-chat",
        "yi-34b-chat",
        "Yi-34B-Chat ",
    ]
    got = {(m.left, m.right, m.rule) for m in match(arena, epoch)}
    assert got == {
        ("Claude 3 Opus", "claude-3-opus-20240229", "undated"),
        ("GPT-4o-2024-08-06", "gpt-4o-2024-08-06", "exact"),
        ("o1-mini", "o1-mini-2024-09-12_medium", "undated"),
    }  # GPT-4o-2024-05-13 never joins the 11-20 version; 70b is not 7b; two epoch names share Yi's key: neither joins


def test_identify_gives_every_name_one_key_and_the_rule_that_made_it():
    from assets.model_keys import Alias, identify, unmatched

    names = {
        "arena": ["Claude 3 Opus", "GPT-4o", "DBRX-Instruct-Preview", "Llama-2-70b-chat"],
        "epoch_hub": ["claude-3-opus-20240229", "gpt-4o-2024-05-13", "gpt-4o-2024-08-06", "Llama-2-7b-chat"],
        "safetywashing": ["dbrx-instruct", "Llama-2-70b-chat-hf"],
    }
    identity = {
        (s, raw): (key, rule)
        for s, raw, key, rule, _, _ in identify(
            names, [Alias("safetywashing", "dbrx-instruct", "dbrx-instruct-preview")]
        )
    }
    assert identity[("arena", "Claude 3 Opus")] == ("claude-3-opus-20240229", "undated")  # one dated version
    assert identity[("arena", "GPT-4o")] == ("gpt-4o", "rules")  # two dated versions: stays undated
    assert identity[("safetywashing", "dbrx-instruct")] == ("dbrx-instruct-preview", "alias")
    assert identity[("safetywashing", "Llama-2-70b-chat-hf")] == identity[("arena", "Llama-2-70b-chat")]
    left = {(s, raw): hint for s, raw, hint, _ in unmatched([(s, r, k, u) for (s, r), (k, u) in identity.items()])}
    assert left[("epoch_hub", "Llama-2-7b-chat")] == "llama-2-70b-chat"  # suggested, not joined
    assert ("arena", "Claude 3 Opus") not in left and ("arena", "GPT-4o") in left


@pytest.mark.parametrize(
    "raw, issue",
    [
        ("xai/Grok-4-0709", None),
        ("chutes/Llama-4-Scout-17B-16E Instruct", None),  # a provider's prefix; a name of words
        ("LeroyDyer/_Spydaz_Web_AI_12", None),
        ("<b>Grok-4-0709</b>", "markup"),
        ("<img src=x onerror=alert(1)>/Grok-4-0709", "markup"),
        ("Grok &amp; friends", "markup"),
        ("Grok-4-0709\u0007", "control_character"),
        ("Grok-4\u200b-0709", "control_character"),  # a zero-width space: looks like Grok-4-0709
        ("not an org!/Grok-4-0709", "implausible_org_prefix"),
        ("ViT-G/14", "implausible_org_prefix"),  # Epoch's names: the '/' is part of the name
        ("DiT-XL/2 + CADS", "implausible_org_prefix"),
        ("GoogLeNet / InceptionV1", "implausible_org_prefix"),
        ("a/b/Grok-4-0709", "implausible_org_prefix"),
    ],
)
def test_a_name_that_is_not_a_plain_model_name_says_why(raw, issue):
    from assets.model_keys import name_issue

    assert name_issue(raw) == issue


def test_names_with_markup_control_characters_or_a_junk_prefix_are_kept_listed_and_never_joined():
    """Held-out style cases: each is stored as given, keeps its '/' (no organisation rule), joins nothing, and
    is listed in unmatched_models with its issue; the plain provider-prefixed name still joins by the rule."""
    from assets.model_keys import identify, unmatched

    odd = [
        "<b>Grok-4-0709</b>",
        "<img src=x onerror=alert(1)>/Grok-4-0709",
        "Grok-4-0709\u0007",
        "not an org!/Grok-4-0709",
        "ViT-G/14",
        "ViT-Huge/14",
    ]
    rows = identify({"arena": ["Grok-4-0709", "14"], "epoch_hub": ["xai/Grok-4-0709", *odd]})
    keys = {(source, raw): key for source, raw, key, *_ in rows}
    assert {raw for source, raw in keys if source == "epoch_hub"} == {"xai/Grok-4-0709", *odd}  # verbatim
    grok = keys[("arena", "Grok-4-0709")]
    assert keys[("epoch_hub", "xai/Grok-4-0709")] == grok
    for raw in odd:
        assert keys[("epoch_hub", raw)] not in (grok, keys[("arena", "14")]), raw
    assert keys[("epoch_hub", "ViT-G/14")] == "vit-g-14" != keys[("epoch_hub", "ViT-Huge/14")]  # both were '14'
    listed = {raw: issue for source, raw, _, issue in unmatched(rows) if source == "epoch_hub"}
    assert listed == {
        "<b>Grok-4-0709</b>": "markup",
        "<img src=x onerror=alert(1)>/Grok-4-0709": "markup",
        "Grok-4-0709\u0007": "control_character",
        "not an org!/Grok-4-0709": "implausible_org_prefix",
        "ViT-G/14": "implausible_org_prefix",
        "ViT-Huge/14": "implausible_org_prefix",
    }


@pytest.mark.system  # Chromium
def test_chart_labels_draw_a_name_as_written(tmp_path):
    """The report's scatter, in headless Chromium: a model name with markup is drawn as its characters (not as
    bold text or an image), and a name with '&' keeps it."""
    import duckdb
    from playwright.sync_api import sync_playwright
    from plotly.offline import get_plotlyjs

    from assets.report import _scatters

    names = ["<b>Grok-4-0709</b>", "<img src=x onerror=alert(1)>/Grok-4-0709", "Wide & Deep", "plain-model"]
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.safety_residuals (analysis varchar, benchmark varchar, model_id varchar, "
        "capabilities_score double, observed double, expected double)"
    )
    con.executemany(
        "insert into marts.safety_residuals values ('a', '<i>bench</i>', ?, ?, ?, ?)",
        [(n, i, i * 0.5, i * 0.4) for i, n in enumerate(names)],
    )
    page_file = tmp_path / "scatter.html"
    page_file.write_text(
        f"<html><head><script>{get_plotlyjs()}</script></head><body>{_scatters(con, 'a')}</body></html>"
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(page_file.as_uri(), wait_until="load")
        drawn = page.evaluate("[...document.querySelectorAll('.textpoint text')].map(t => t.textContent)")
        bold = page.evaluate("document.querySelectorAll('.textpoint text tspan[style*=\"bold\"]').length")
        images = page.evaluate("document.querySelectorAll('.plotly img').length")
        menu = page.evaluate("[...document.querySelectorAll('.updatemenu-item-text')].map(t => t.textContent)")
        browser.close()
    assert sorted(drawn) == sorted(names) and bold == 0 and images == 0
    assert "<i>bench</i>" in menu


# Arena showed an anonymous codename until a model's release, then reused it for another model: the reviewed
# aliases give the name one key per window of snapshot dates
GPT_4O, GPT_4O_MINI = model_key("GPT-4o-2024-05-13").key, model_key("gpt-4o-mini-2024-07-18").key
WINDOWED = [
    Alias("arena", "im-also-a-good-gpt2-chatbot", GPT_4O, valid_to="2024-05-31"),
    Alias("arena", "im-also-a-good-gpt2-chatbot", GPT_4O_MINI, valid_from="2024-07-01"),
]


def test_a_dated_alias_gives_a_name_one_key_per_window():
    from assets.model_keys import identify

    rows = identify({"arena": ["im-also-a-good-gpt2-chatbot", "GPT-4o-2024-05-13"]}, WINDOWED)
    mine = sorted(r for r in rows if r[1] == "im-also-a-good-gpt2-chatbot")
    assert mine == [
        ("arena", "im-also-a-good-gpt2-chatbot", GPT_4O, "alias", None, "2024-05-31"),
        ("arena", "im-also-a-good-gpt2-chatbot", GPT_4O_MINI, "alias", "2024-07-01", None),
        ("arena", "im-also-a-good-gpt2-chatbot", model_key("im-also-a-good-gpt2-chatbot").key, "rules", None, None),
    ]
    overlapping = [WINDOWED[0], Alias("arena", "im-also-a-good-gpt2-chatbot", "other", valid_from="2024-05-01")]
    with pytest.raises(
        ValueError, match=r"arena 'im-also-a-good-gpt2-chatbot' has aliases whose validity dates overlap"
    ):
        identify({"arena": ["im-also-a-good-gpt2-chatbot"]}, overlapping)


def test_the_warehouse_keys_each_snapshot_by_the_window_that_holds_its_date():
    """Three Arena snapshots (May, June, July 2024) hold the same codename: May's (before GPT-4o's release) is the
    first alias's model, July's (beside the released GPT-4o) the second's, June falls in neither window and keeps the
    name's own key; no key stands for two rows of one snapshot."""
    import duckdb
    import polars as pl

    from assets.model_keys import identify
    from assets.model_sets import _keys

    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("""create table marts.models as select * from (values
        ('arena', 's-may', timestamptz '2024-05-10 12:00:00+00', 'im-also-a-good-gpt2-chatbot', '{}'),
        ('arena', 's-jun', timestamptz '2024-06-15 12:00:00+00', 'im-also-a-good-gpt2-chatbot', '{}'),
        ('arena', 's-jul', timestamptz '2024-07-20 12:00:00+00', 'im-also-a-good-gpt2-chatbot', '{}'),
        ('arena', 's-jul', timestamptz '2024-07-20 12:00:00+00', 'GPT-4o-2024-05-13', '{}'))
        t(source, snapshot, snapshot_at, model_id, attributes)""")
    rows = identify({"arena": ["im-also-a-good-gpt2-chatbot", "GPT-4o-2024-05-13"]}, WINDOWED)
    frame = pl.DataFrame(
        rows, schema=["source", "raw_name", "model_key", "rule", "valid_from", "valid_to"], orient="row"
    )
    con.register("identity", frame.with_columns(pl.col("valid_from", "valid_to").str.to_date()).to_arrow())
    con.execute("create table marts.model_identity as select * from identity")
    keys = {(s, m): k for s, m, _, k in _keys(con, "arena").iter_rows()}
    name = "im-also-a-good-gpt2-chatbot"
    assert keys == {
        ("s-may", name): GPT_4O,
        ("s-jun", name): model_key(name).key,
        ("s-jul", name): GPT_4O_MINI,
        ("s-jul", "GPT-4o-2024-05-13"): GPT_4O,
    }
    for snapshot in ("s-may", "s-jun", "s-jul"):  # no key stands for two rows of one snapshot
        held = [k for (s, _), k in keys.items() if s == snapshot]
        assert len(held) == len(set(held))
