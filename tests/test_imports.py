"""The project's import rules, read from the source (no module is imported): the pure layers stay pure and
nothing reaches back across the Dagster boundary or into the tests."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PROJECT = Path(__file__).resolve().parents[1]


def imported(path: Path, root: Path = PROJECT) -> set[str]:
    """Every module a file imports, anywhere in it (functions included), as absolute dotted names."""
    package = ".".join(path.relative_to(root).parent.parts)
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            out.add(module)
            out |= {f"{module}.{alias.name}" for alias in node.names}
    return out


def violations(folder: str, forbidden: tuple[str, ...], root: Path = PROJECT) -> list[str]:
    return sorted(
        f"{path.relative_to(root)} imports {name}"
        for path in (root / folder).rglob("*.py")
        for name in imported(path, root)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


@pytest.mark.parametrize(
    "folder, forbidden",
    [
        ("assets/stats", ("dagster", "duckdb", "assets.warehouse", "assets.lake")),  # plain functions on arrays
        ("assets/parsers", ("dagster", "duckdb")),  # bytes in, frames out
        ("assets", ("orchestration",)),  # the definitions wire the assets, never the reverse
        ("benchmarks", ("tests", "conftest")),
        ("orchestration", ("tests", "conftest")),
    ],
)
def test_import_rules(folder, forbidden):
    assert violations(folder, forbidden) == []


def test_the_rules_see_relative_imports_and_imports_inside_a_function(tmp_path):
    probe = tmp_path / "assets" / "stats" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("import numpy as np\n\ndef f():\n    from .. import warehouse\n    import dagster as dg\n")
    assert violations("assets/stats", ("dagster", "assets.warehouse"), tmp_path) == [
        "assets/stats/probe.py imports assets.warehouse",
        "assets/stats/probe.py imports dagster",
    ]


def test_module_names_under_assets_say_which_is_which():
    """No two modules under assets/ share a name, or differ only by a suffix (`report` / `report_asset`,
    `correlation` / `correlations`); each says in its first docstring line what it owns, and no two say the same."""
    modules = [p for p in (PROJECT / "assets").rglob("*.py") if p.name != "__init__.py"]
    stems = sorted(p.stem.lstrip("_") for p in modules)
    clashes = [
        (a, b) for i, a in enumerate(stems) for b in stems[i + 1 :] if b == a or b.startswith(a + "_") or b == a + "s"
    ]
    assert clashes == []
    firsts = {}
    for p in modules:
        doc = ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))
        assert doc, f"{p.relative_to(PROJECT)} has no docstring"
        firsts[p.relative_to(PROJECT).as_posix()] = doc.splitlines()[0]
    assert len(set(firsts.values())) == len(firsts)


def defines_assets(path: Path) -> bool:
    """A module with a Dagster asset, multi-asset or check decorator (called or not)."""
    names = {"asset", "multi_asset", "graph_asset", "graph_multi_asset", "asset_check", "multi_asset_check"}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        for decorator in getattr(node, "decorator_list", []):
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Attribute) and target.attr in names:
                return True
    return False


def test_asset_modules_share_keys_through_the_keys_module_never_each_other():
    """Each asset module stands on the pure modules and `assets.keys`: none imports another, so no import chain
    runs through the graph's modules."""
    asset_modules = {
        f"assets.{p.stem}" for p in (PROJECT / "assets").glob("*.py") if p.stem != "keys" and defines_assets(p)
    }
    assert {"assets.sources", "assets.capability_fits", "assets.publish", "assets.exports"} <= asset_modules
    crossing = sorted(
        f"{module} imports {name}"
        for module in asset_modules
        for name in imported(PROJECT / (module.replace(".", "/") + ".py"))
        if any(name == other or name.startswith(other + ".") for other in asset_modules - {module})
    )
    assert crossing == []
