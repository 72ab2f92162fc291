"""Model keys, without Dagster: the canonical key of a raw model name, from rules only (no fuzzy joins).

The same model is printed differently by every source: ``meta-llama/Llama-2-13b-chat-hf`` (Hugging Face),
``Llama-2-13b-chat`` (Arena), ``Claude Opus 4 (20250514)`` (Arena) and ``claude-opus-4-20250514`` (Epoch),
``o3-mini-high`` (Arena) and ``o3-mini-2025-01-31_high`` (Epoch). :func:`model_key` applies rules that
keep every distinguishing token (sizes, versions, dates) and only remove spelling: case, separators, an
organisation prefix, ``-hf``, the form of a date, the form of a reasoning-effort suffix. :func:`match`
joins two name lists on equal keys, then, for names still unmatched, on keys without their date when
that is unique on both sides. Anything else is left unmatched, to be listed with a suggestion a person
reviews: similar-looking names were a different model in 36 of 37 sampled pairs (7b/70b, v0.1/v0.2).
No dagster, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

# the column that names a model the way people do, per source (others use `model_id`)
RAW_NAME = """case source
    when 'epoch_hub' then json_extract_string(attributes, '$.model_version')
    when 'open_llm_v1' then json_extract_string(attributes, '$.model_name')
    when 'open_llm_v2' then json_extract_string(attributes, '$.model_name')
    else model_id end"""

EFFORTS = ("minimal", "low", "medium", "high")
_SEPARATORS = re.compile(r"[\s_/]+|-{2,}")
_PAREN = re.compile(r"\(([^)]*)\)")
# dates as the sources print them, captured to (year, month, day); tried in this order
_DATES = (
    re.compile(r"(?<![\d.])(?P<y>20\d\d)-(?P<m>[01]\d)-(?P<d>[0-3]\d)(?![\d.])"),  # 2025-03-26
    re.compile(r"(?<![\d.])(?P<m>[01]\d)-(?P<d>[0-3]\d)-(?P<y>20\d\d)(?![\d.])"),  # 03-27-2025
    re.compile(r"(?<![\d.])(?P<y>20\d\d)(?P<m>[01]\d)(?P<d>[0-3]\d)(?![\d.])"),  # 20250514
)
_HYPHEN_VERSION = re.compile(r"(?<![\d.])(\d)-(\d)(?=-[a-z]|-20\d{6}|$)")
_DATE_TOKEN = re.compile(r"-?@?(20\d\d[01]\d[0-3]\d)")
_MARKUP = re.compile(r"<[^<>]*>|&#?\w+;")
_ORG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
# a name after an organisation: words of letters, digits, ".", "_" and "-", one space apart, with a letter
_AFTER_ORG = re.compile(r"(?=[^/]*[A-Za-z])\w[\w.-]*(?: [A-Za-z][\w.-]*)*")


def name_issue(raw: str) -> str | None:
    """Why ``raw`` is not a plain model name, or None: ``markup`` (an HTML tag or entity), ``control_character``
    (a control or format character inside it), ``implausible_org_prefix`` (a ``/`` that does not separate an
    organisation, letters, digits, ``.``, ``_`` and ``-``, from a name of such words with a letter in it:
    ``ViT-G/14``, ``DiT-XL/2 + CADS``, ``GoogLeNet / InceptionV1``). Such a name is kept as given, and its ``/`` never
    strips a prefix: it joins no other source's name by the organisation rule."""
    name = raw.strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        return "control_character"
    if _MARKUP.search(name):
        return "markup"
    if "/" in name:
        org, _, rest = name.partition("/")
        if not (_ORG.fullmatch(org) and _AFTER_ORG.fullmatch(rest)):
            return "implausible_org_prefix"
    return None


@dataclass(frozen=True)
class Key:
    """A canonical model key and the rules that produced it from the raw name."""

    key: str
    rules: tuple[str, ...]


def model_key(raw: str) -> Key:
    """The canonical key of one raw model name.

    Lower case; an ``org/`` prefix (a plausible one: see :func:`name_issue`) and a ``-hf`` suffix dropped; spaces, underscores and parentheses
    turned into ``-``; dates written ``YYYYMMDD``; a reasoning-effort suffix (``_high``, ``-high``,
    ``(high)``) written ``@high``; a thinking budget (``_32K``, ``(thinking-32k)``) written ``@think32k``.
    """
    rules = []
    name = raw.strip()
    if "/" in name and name_issue(raw) is None:
        name = name.split("/", 1)[1]
        rules.append("org_prefix")
    name = name.lower()
    think = re.search(r"(?:\(thinking-?(\d+)k\)|[_-](\d+)k$)", name)
    budget = None
    if think:
        budget = think.group(1) or think.group(2)
        name = (name[: think.start()] + name[think.end() :]).strip()
        rules.append("thinking_budget")
    name = _PAREN.sub(lambda m: f"-{m.group(1)}-", name)
    for pattern in _DATES:
        name, n = pattern.subn(lambda m: f"{m['y']}{m['m']}{m['d']}", name)
        if n:
            rules.append("date")
    name = _SEPARATORS.sub("-", name).strip("-")
    name = re.sub(r"-+", "-", name)
    # a version written with a hyphen (claude-3-5-sonnet, phi-1_5) is the dotted one (Claude 3.5 Sonnet):
    # two single digits followed by a word, a date or the end, never by a size (gemma-2-9b stays)
    name, n = _HYPHEN_VERSION.subn(r"\1.\2", name)
    if n:
        rules.append("version_dots")
    if name.endswith("-hf"):
        name = name[:-3]
        rules.append("hf_suffix")
    if name.startswith("meta-llama-"):  # Meta-Llama-3-8B-Instruct (HF) = Llama-3-8B-Instruct (Arena)
        name = name[len("meta-") :]
        rules.append("vendor_prefix")
    effort = re.search(rf"-({'|'.join(EFFORTS)})$", name)
    if effort and re.search(r"\d", name[: effort.start()]):  # "Mistral Medium" is a tier, not an effort
        name = f"{name[: effort.start()]}@{effort.group(1)}"
        rules.append("effort")
    elif re.match(r"o\d", name):  # OpenAI's o-series without an effort runs at its default, medium
        name = f"{name}@medium"
        rules.append("default_effort")
    if budget:
        name = f"{name}@think{budget}k"
    return Key(name, tuple(rules))


def without_date(key: str) -> str | None:
    """The key with its ``YYYYMMDD`` date removed, or None when it has none."""
    stripped, n = _DATE_TOKEN.subn("", key)
    return stripped if n else None


@dataclass(frozen=True)
class Match:
    left: str
    right: str
    key: str
    rule: str
    """``exact`` (equal keys) or ``undated`` (one side has no date, equal once the other's is dropped, and
    unique on both sides)"""


def match(left: list[str], right: list[str]) -> list[Match]:
    """Join two lists of raw names on their keys; a name joins at most one name of the other list.

    First equal keys (when a key is shared by several raw names on one side, none of them joins: the
    names are ambiguous); then, among names still unmatched, a dated name and an undated one whose keys
    agree once the date is dropped, when that key is unique on both sides (two different dates never
    join). Sizes, versions and any other token must agree exactly.
    """

    def index(names, keyer):
        out = defaultdict(list)
        for name in names:
            k = keyer(name)
            if k is not None:
                out[k].append(name)
        return out

    out: list[Match] = []
    done_left, done_right = set(), set()
    lk, rk = index(left, lambda n: model_key(n).key), index(right, lambda n: model_key(n).key)
    for key in sorted(lk.keys() & rk.keys()):
        if len(lk[key]) == 1 and len(rk[key]) == 1:
            out.append(Match(lk[key][0], rk[key][0], key, "exact"))
            done_left.add(lk[key][0])
            done_right.add(rk[key][0])
    lu = index([n for n in left if n not in done_left], lambda n: without_date(model_key(n).key) or model_key(n).key)
    ru = index([n for n in right if n not in done_right], lambda n: without_date(model_key(n).key) or model_key(n).key)
    for key in sorted(lu.keys() & ru.keys()):
        if len(lu[key]) == 1 and len(ru[key]) == 1:
            a, b = lu[key][0], ru[key][0]
            if without_date(model_key(a).key) and without_date(model_key(b).key):
                continue  # two different dates are two different versions
            out.append(Match(a, b, key, "undated"))
    return out


@dataclass(frozen=True)
class Alias:
    """A reviewed alias: ``raw_name`` of ``source`` is ``model_key``, optionally only for snapshots dated
    within [``valid_from``, ``valid_to``] (Arena renames codenames once a model is released)."""

    source: str
    raw_name: str
    model_key: str
    valid_from: str | None = None
    valid_to: str | None = None


def identify(names: dict[str, list[str]], aliases: list[Alias] = ()) -> list[tuple]:
    """(source, raw_name, model_key, rule, valid_from, valid_to) for every name of every source.

    ``rule`` is ``alias`` (a reviewed alias), ``rules`` (the key of :func:`model_key`), or ``undated`` (an
    undated name given the one dated key, of the other sources, that equals it once its date is dropped;
    several dated versions leave it undated). A name whose aliases have validity dates gets one row per
    alias with its window, and a ``rules`` row (no window) for the snapshots outside every window: the
    warehouse picks, per snapshot, the row whose window holds the snapshot's date, else the one without.
    Two windows of one name that overlap are refused (a name has one key per snapshot).
    """
    by_name: dict[tuple[str, str], list[Alias]] = defaultdict(list)
    for a in aliases:
        by_name[(a.source, a.raw_name)].append(a)
    for (source, raw), listed in by_name.items():
        spans = sorted((a.valid_from or "0000-01-01", a.valid_to or "9999-12-31") for a in listed)
        if len(listed) > 1 and any(later[0] <= earlier[1] for earlier, later in zip(spans, spans[1:])):
            windows = ", ".join(f"{a.model_key} {a.valid_from or '…'}..{a.valid_to or '…'}" for a in listed)
            raise ValueError(
                f"seeds.model_aliases: {source} {raw!r} has aliases whose validity dates overlap "
                f"({windows}); a name has one key per snapshot"
            )
    rows = []
    for source, raws in names.items():
        for raw in sorted(set(raws)):
            listed = by_name.get((source, raw), [])
            windowed = any(a.valid_from or a.valid_to for a in listed)
            for a in listed if windowed else listed[:1]:
                rows.append([source, raw, a.model_key, "alias", a.valid_from, a.valid_to])
            if not listed or windowed:
                rows.append([source, raw, model_key(raw).key, "rules", None, None])
    dated: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))  # undated key -> source -> keys
    for source, _, key, *_ in rows:
        if (bare := without_date(key)) is not None:
            dated[bare][source].add(key)
    for row in rows:
        source, _, key, rule, *_ = row
        if rule == "rules" and without_date(key) is None and key in dated:
            others = set().union(*(keys for s, keys in dated[key].items() if s != source))
            if len(others) == 1:
                row[2], row[3] = others.pop(), "undated"
    return [tuple(r) for r in rows]


def unmatched(identity: list[tuple]) -> list[tuple[str, str, str | None, str | None]]:
    """(source, raw_name, suggestion, name_issue) for every name whose key no other source shares, and every
    name with a :func:`name_issue`. The suggestion is the closest key of another source that starts with the
    same word, by :func:`difflib.get_close_matches` (cutoff 0.85): for a person to review and, if right, add
    as an alias; it never joins anything."""
    import difflib

    sources_of: dict[str, set[str]] = defaultdict(set)
    for source, _, key, *_ in identity:
        sources_of[key].add(source)
    by_word: dict[str, list[tuple[str, set[str]]]] = defaultdict(list)
    for key, sources in sources_of.items():
        by_word[key.split("-", 1)[0]].append((key, sources))
    keys_of: dict[tuple[str, str], list[str]] = defaultdict(list)  # a name with dated aliases has several
    for source, raw, key, *_ in identity:
        keys_of[(source, raw)].append(key)
    out = []
    for (source, raw), keys in keys_of.items():
        issue = name_issue(raw)
        if issue or all(sources_of[key] == {source} for key in keys):
            key = keys[0]
            candidates = [k for k, sources in by_word[key.split("-", 1)[0]] if sources - {source}]
            close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.85)
            out.append((source, raw, close[0] if close else None, issue))
    return out
