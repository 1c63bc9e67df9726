"""The supported versions are said in three places that must agree: setup.py's ranges, the pins of the
lowest run (ci/lowest-constraints.txt, installed by `make test-lowest`, which .ci/run calls) and the
README's table. A floor raised in one and not the others would claim a version nothing tests."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from .test_packaging import dist  # noqa: F401  # the fixture: setup.py as setuptools reads it

ROOT = Path(__file__).resolve().parent.parent
SURFACES = ("flask", "flask-sqlalchemy", "sqlalchemy", "flask-admin", "rq", "redis")


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "ci" / "lowest-constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = Version(version.strip())
    return pins


def test_the_lowest_run_pins_the_floor_of_every_range_in_setup_py(dist):  # noqa: F811
    requirements = {r.name.lower(): r for r in map(Requirement, dist.install_requires)}
    pins = _pins()
    for name in SURFACES:
        spec = requirements[name].specifier
        floors = [Version(s.version) for s in spec if s.operator == ">="]
        assert floors, f"{name} has no lower bound in setup.py"
        pin = pins[name]
        assert pin in spec, f"{name}=={pin} is outside setup.py's {spec}"
        assert (pin.major, pin.minor) == (floors[0].major, floors[0].minor), f"{name}: setup.py says >={floors[0]}, the lowest run tests {pin}"


def test_readme_names_the_same_lowest_versions_and_ci_runs_them():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("### Supported versions") :].split("\n\n")[1]
    pins = _pins()
    for label, name in (("Flask", "flask"), ("Flask-SQLAlchemy", "flask-sqlalchemy"), ("SQLAlchemy", "sqlalchemy"), ("Flask-Admin", "flask-admin"), ("RQ", "rq")):
        row = next(line for line in table.splitlines() if re.match(rf"\| {re.escape(label)}[ |(]", line))
        lowest = row.split("|")[2]
        assert f"{pins[name].major}.{pins[name].minor}" in lowest, (label, row)
    assert "make test-lowest" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "\ntest-lowest:" in (ROOT / "Makefile").read_text(encoding="utf-8")
