"""What the package ships and needs: the extension with its templates and revisions, not the example shop;
fakeredis only with the ``[embedded]`` extra, whose name the embedded queue's error gives."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist():
    """setup.py's distribution as setuptools reads it (what ``pip wheel .`` builds from)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distutils' own deprecation notice
        from distutils.core import run_setup

    old = Path.cwd()
    os.chdir(ROOT)  # setup.py reads README.md from where it runs
    try:
        return run_setup(str(ROOT / "setup.py"), stop_after="init")
    finally:
        os.chdir(old)


def test_the_wheel_carries_the_extension_with_its_data_and_not_the_example_shop(dist):
    assert "flask_specter" in dist.packages
    assert all(name == "flask_specter" or name.startswith("flask_specter.") for name in dist.packages), dist.packages
    data = dist.package_data["flask_specter"]
    assert "migrations/versions/*.py" in data and "admin/templates/**/*" in data and "sandbox/templates/**/*" in data
    assert {"flask_specter.migrations.versions", "flask_specter.admin.templates.specter", "flask_specter.sandbox.templates.sandbox"} <= set(dist.packages)
    assert (ROOT / "flask_specter" / "sandbox" / "templates" / "sandbox" / "index.html").is_file()  # the sandbox page
    assert list((ROOT / "flask_specter" / "migrations" / "versions").glob("*.py"))  # what the pattern ships
    assert "LICENSE" in dist.metadata.license_files and (ROOT / "LICENSE").is_file() and (ROOT / "CHANGES.md").is_file()


def test_fakeredis_comes_with_the_embedded_extra_and_rq_is_pinned_to_its_major(dist):
    assert not any(req.startswith("fakeredis") for req in dist.install_requires)
    assert any(req.startswith("fakeredis[lua]") for req in dist.extras_require["embedded"])
    assert "rq<4,>=3.0" in dist.install_requires or "rq>=3.0,<4" in dist.install_requires
    import rq

    assert rq.__version__.split(".")[0] == "3"  # the major the suite runs on is the one pinned


def test_the_embedded_queue_without_fakeredis_names_the_extra(monkeypatch, dist):
    from flask_specter.queue import redis_connection

    monkeypatch.setitem(sys.modules, "fakeredis", None)  # as if the extra were not installed
    with pytest.raises(RuntimeError, match=r"REDIS_URL.*pip install 'Flask-Specter\[embedded\]'") as info:
        redis_connection(None)
    assert "embedded" in dist.extras_require and "embedded" in str(info.value)
