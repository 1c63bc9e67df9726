"""Issue 23 §6: each example's Specter wiring is configuration only (no adapter subclass, no host event
listener or signal receiver, no patched constant, no private name) and at most 30 lines as ruff formats
it. The wiring is one file per example, ``specter.py``, which its ``create_app`` calls."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WIRINGS = ["example_shop/specter.py", "examples/moms_shop/specter.py", "examples/variant_shop/specter.py"]
LISTENER_OR_PATCH = re.compile(r"(^|\.)(listen|listens_for|connect|connect_via|setattr|patch|monkeypatch)$")


@pytest.mark.parametrize("wiring", WIRINGS)
def test_the_wiring_is_configuration_only_and_at_most_30_lines(wiring, tmp_path):
    path = ROOT / wiring
    source = path.read_text()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        assert not isinstance(node, ast.ClassDef), f"{wiring}:{node.lineno}: a class (an adapter subclass?)"
        assert not isinstance(node, ast.Import) or not any(a.name.startswith("flask_specter") for a in node.names), (
            f"{wiring}:{node.lineno}: import flask_specter's names through 'from ... import' only"
        )
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flask_specter"):
            assert not any(a.name.startswith("_") for a in node.names), f"{wiring}:{node.lineno}: a private name imported"
            assert node.module == "flask_specter", f"{wiring}:{node.lineno}: from {node.module}: the package's public names only"
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            patched = [t for t in targets if isinstance(t, (ast.Attribute, ast.Subscript))]
            assert not patched, f"{wiring}:{node.lineno}: an attribute or item assigned (a patched constant?)"
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            assert not LISTENER_OR_PATCH.search(name), f"{wiring}:{node.lineno}: {name}(): a listener, a receiver or a patch"

    formatted = tmp_path / "specter.py"
    formatted.write_text(source)
    subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", "--config", str(ROOT / "ruff.toml"), str(formatted)], check=True)
    lines = formatted.read_text().count("\n")
    assert lines <= 30, f"{wiring} is {lines} lines as ruff formats it (at most 30)"


@pytest.mark.parametrize("wiring", WIRINGS)
def test_create_app_joins_specter_through_the_wiring(wiring):
    """The package's ``create_app`` calls ``specter.py``'s ``init_specter`` and makes no Specter of its own."""
    package = (ROOT / wiring).parent
    init = ast.parse((package / "__init__.py").read_text())
    calls = {ast.unparse(n.func) for n in ast.walk(init) if isinstance(n, ast.Call)}
    assert "init_specter" in calls and not calls & {"Specter", "SQLAlchemyShopAdapter"}


@pytest.mark.parametrize("wiring", [w for w in WIRINGS if w.startswith("examples/")])
def test_the_shops_own_code_knows_nothing_of_specter(wiring):
    """The two shops shaped like real ones: only ``specter.py`` imports ``flask_specter``."""
    package = (ROOT / wiring).parent
    knowing = sorted(p.name for p in package.glob("*.py") if p.name != "specter.py" and "flask_specter" in p.read_text())
    assert knowing == []
