"""The source registry, as data: one TOML file per source in ``assets/registry/``.

Each file says the source's name, description, format and licence, its ``latest`` addresses (whose
snapshot is decided when they are fetched) and its pinned ``snapshots``: an id (the commit), a date and
the commit-addressed files with their sha256, for backfill. Loaded and checked here, with errors that
name the file and the field; no dagster import.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .parsers.arena import parse_arena
from .parsers.epoch_hub import parse_epoch_hub
from .parsers.epoch_models import parse_notable_models
from .parsers.leaderboard import Leaderboard
from .parsers.lm_eval import parse_lm_eval
from .parsers.obsscaling import parse_obsscaling
from .parsers.open_llm import parse_open_llm_v1, parse_open_llm_v2

REGISTRY_DIR = Path(__file__).with_name("registry")
# formats whose files parse into the long form of assets/parsers/leaderboard.py
ADAPTERS: dict[str, Callable[..., Leaderboard]] = {
    "arena_csv": parse_arena,
    "open_llm_v2_csv": parse_open_llm_v2,
    "open_llm_v1_csv": parse_open_llm_v1,
    "obsscaling_csv": parse_obsscaling,
    "epoch_hub_csv": parse_epoch_hub,
    "epoch_models_csv": parse_notable_models,
    "lm_eval_json": parse_lm_eval,
}
FORMATS = {"safetywashing_csv", *ADAPTERS}
_SHA256 = re.compile(r"[0-9a-f]{64}")


class RegistryError(ValueError):
    """A registry file is malformed; names the file and the field."""


@dataclass(frozen=True)
class SourceFile:
    """One file of a source. ``sha256`` is set when the URL is pinned to an immutable commit."""

    name: str
    url: str
    role: str
    sha256: str | None = None
    model_set: str | None = None

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.url).suffix


@dataclass(frozen=True)
class Source:
    """One snapshot of a leaderboard dump: where its files are, which parser reads them."""

    name: str
    description: str
    format: str
    snapshot: str
    licence: str
    files: tuple[SourceFile, ...]


@dataclass(frozen=True)
class Snapshot:
    id: str
    date: str
    files: tuple[SourceFile, ...]


@dataclass(frozen=True)
class Registered:
    """A registered source: its latest addresses and its pinned snapshots, oldest first."""

    name: str
    description: str
    format: str
    licence: str
    latest: tuple[str, ...]
    snapshots: tuple[Snapshot, ...]

    def source(self, snapshot: Snapshot | None = None) -> Source:
        """The :class:`Source` of one pinned snapshot (default: the newest)."""
        chosen = snapshot or self.snapshots[-1]
        return Source(self.name, self.description, self.format, chosen.id, self.licence, chosen.files)


def _field(doc: dict, key: str, where: str, kind: type = str):
    value = doc.get(key)
    if not isinstance(value, kind) or (kind is str and not value):
        raise RegistryError(f"{where}: field {key!r} must be a non-empty {kind.__name__}, found {value!r}")
    return value


def load_source(path: Path) -> Registered:
    """Read and check one registry file."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: not TOML ({exc})") from None
    name = _field(doc, "name", str(path))
    if name != path.stem:
        raise RegistryError(f"{path}: name {name!r} differs from the file name")
    fmt = _field(doc, "format", str(path))
    if fmt not in FORMATS:
        raise RegistryError(f"{path}: format {fmt!r} is not one of {sorted(FORMATS)}")
    latest = doc.get("latest", [])
    if not isinstance(latest, list) or not all(isinstance(u, str) and u.startswith("https://") for u in latest):
        raise RegistryError(f"{path}: field 'latest' must be a list of https:// addresses")
    snapshots = []
    for i, snap in enumerate(doc.get("snapshots", [])):
        where = f"{path}: snapshots[{i}]"
        files = []
        for j, f in enumerate(snap.get("files", [])):
            at = f"{where}.files[{j}]"
            sha = _field(f, "sha256", at)
            if not _SHA256.fullmatch(sha):
                raise RegistryError(f"{at}: sha256 {sha!r} is not 64 hex digits")
            url = _field(f, "url", at)
            if not url.startswith("https://"):
                raise RegistryError(f"{at}: url {url!r} is not https://")
            files.append(SourceFile(_field(f, "name", at), url, f.get("role", "data"), sha, f.get("model_set")))
        if not files:
            raise RegistryError(f"{where}: no files")
        snapshots.append(Snapshot(_field(snap, "id", where), _field(snap, "date", where), tuple(files)))
    if not snapshots and not latest:
        raise RegistryError(f"{path}: neither pinned snapshots nor a latest address")
    ids = [s.id for s in snapshots]
    if len(set(ids)) != len(ids):
        raise RegistryError(f"{path}: snapshot ids repeat")
    return Registered(
        name,
        _field(doc, "description", str(path)),
        fmt,
        _field(doc, "licence", str(path)),
        tuple(latest),
        tuple(sorted(snapshots, key=lambda s: (s.date, s.id))),
    )


def load_registry(folder: Path = REGISTRY_DIR) -> dict[str, Registered]:
    """Every registered source, by name."""
    return {path.stem: load_source(path) for path in sorted(folder.glob("*.toml"))}
