from setuptools import find_packages, setup

setup(
    name="Flask-Specter",
    version="0.1.0",
    description="Join a Flask shop to Specter Business Management: stock, products, customers and orders.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["flask_specter", "flask_specter.*", "example_shop", "example_shop.*"]),
    include_package_data=True,
    package_data={"flask_specter": ["py.typed", "admin/templates/**/*", "templates/**/*"], "example_shop": ["templates/**/*", "static/**/*"]},
    python_requires=">=3.11",
    install_requires=[
        "flask>=3.0",
        "flask-sqlalchemy>=3.1",
        "flask-admin>=2.0",
        "flask-wtf>=1.2",
        "rq>=2.8",
        "redis>=5.0",
        "requests>=2.31",
        "defusedxml>=0.7",
        "fakeredis[lua]>=2.26",
    ],
    extras_require={
        "postgres": ["psycopg[binary]>=3.1"],
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "freezegun>=1.4",
            "playwright>=1.45",
            "psycopg[binary]>=3.1",
            "ruff>=0.5",
            "waitress>=3.0",
            "gunicorn>=22",
        ],
    },
    entry_points={"flask.commands": []},
    classifiers=["Framework :: Flask", "Programming Language :: Python :: 3", "Natural Language :: Swedish"],
)
