"""Sphinx configuration: the guide and the API reference (autodoc), built with ``-W`` by ``make test``."""

from __future__ import annotations

import os
import sys

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList

sys.path.insert(0, os.path.abspath(".."))

project = "Flask-Specter"
author = "Flask-Specter contributors"
copyright = "Flask-Specter contributors"  # noqa: A001 - Sphinx's name
extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
html_theme = "alabaster"
html_static_path: list[str] = []


def _rst_text(text: str) -> str:
    """Plain text in a table cell: no reST markup by accident (``*``, backticks, ``name_`` references)."""
    for char in ("\\", "*", "`", "_", "|"):
        text = text.replace(char, "\\" + char)
    return text


class SettingsTable(Directive):
    """``.. specter-settings::``: every ``SPECTER_*`` key from ``flask_specter.config.SETTINGS`` (as the README's table)."""

    def run(self) -> list[nodes.Node]:
        from flask_specter.config import SETTINGS

        lines = [".. list-table::", "   :header-rows: 1", "   :widths: 30 15 55", "", "   * - setting", "     - default", "     - meaning"]
        for s in SETTINGS:
            lines += [f"   * - ``{s.key}``", f"     - ``{s.default!r}``", f"     - {_rst_text(s.meaning)}"]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="flask_specter/config.py"), self.content_offset, container)
        return list(container.children)


def setup(app):  # type: ignore[no-untyped-def]
    app.add_directive("specter-settings", SettingsTable)
    return {"parallel_read_safe": True}
