from setuptools import find_namespace_packages, setup

setup(
    name="Flask-Specter",
    version="0.1.0",
    description="Join a Flask shop to Specter Business Management: stock, products, customers and orders.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    license_files=["LICENSE"],
    # The extension only: example_shop stays in the repository (``pip install -e .`` keeps it importable there).
    # Namespace discovery: the template and revision folders are data packages of their own.
    packages=find_namespace_packages(include=["flask_specter", "flask_specter.*"], exclude=["*.__pycache__"]),
    include_package_data=True,
    package_data={"flask_specter": ["py.typed", "admin/templates/**/*", "sandbox/templates/**/*", "migrations/versions/*.py", "translations/*/LC_MESSAGES/*.po", "translations/*/LC_MESSAGES/*.mo", "translations/*.pot"]},
    python_requires=">=3.11",
    # Supported versions (README, "Supported versions"); the lowest of each is pinned in
    # ci/lowest-constraints.txt and tested by `make test-lowest` (.ci/run).
    install_requires=[
        "flask>=2.3,<4",
        "flask-sqlalchemy>=3.1,<4",
        "sqlalchemy>=2.0.16",  # Flask-SQLAlchemy 3.1's own floor
        "flask-admin>=1.6.1,<3",  # 1.6 through flask_specter.compat
        "flask-wtf>=1.2",
        "flask-babel>=4.0",  # the admin in Swedish (or English): Flask-Admin's catalogue and the extension's
        "rq>=3.0,<4",  # the major version the suite runs on; RQ changes its internals between majors
        "redis>=5.0.1",  # RQ 3.0's own floor
        "requests>=2.31",
        "defusedxml>=0.7",
    ],
    extras_require={
        # The queue without a Redis server: an in-process fakeredis and a worker thread (demo, small shops).
        "embedded": ["fakeredis[lua]>=2.26"],
        # The shipped Alembic revisions (flask_specter.migrations); Flask-Migrate brings Alembic too.
        "migrations": ["alembic>=1.13"],
        "postgres": ["psycopg[binary]>=3.1"],
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "freezegun>=1.4",
            "playwright>=1.45",
            "psycopg[binary]>=3.1",
            "ruff>=0.5",
            "mypy>=1.11",
            "types-defusedxml",
            "types-WTForms",
            "waitress>=3.0",
            "gunicorn>=22",
            "fakeredis[lua]>=2.26",
            "flask-migrate>=4.0",
            "sphinx>=8",  # docs/ is built with -W by `make test`
        ],
    },
    entry_points={"flask.commands": []},
    classifiers=[
        "Framework :: Flask",
        "Programming Language :: Python :: 3",
        "Natural Language :: Swedish",
    ],
)
