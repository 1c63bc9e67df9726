# Two commands on a fresh machine: `make demo` and `make test` (README).
PYTHON ?= python3
VENV ?= .venv
PY = $(VENV)/bin/python
STAMP = $(VENV)/.installed

.PHONY: demo test test-sqlite test-lowest lint docs bench clean translations

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,embedded]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m example_shop.demo

# The whole suite: on SQLite with the embedded queue, then against real PostgreSQL and Redis
# (if they answer on 127.0.0.1; .ci/run starts them).
test: $(STAMP)
	$(VENV)/bin/ruff check flask_specter example_shop examples tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs build/docs
	$(PY) -m pytest -q -p no:cacheprovider
	@if $(PY) -c "import socket;socket.create_connection(('127.0.0.1',5432),1);socket.create_connection(('127.0.0.1',6379),1)" 2>/dev/null; then \
	  echo "== again on PostgreSQL + Redis =="; \
	  TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test TEST_REDIS_URL=redis://127.0.0.1:6379/15 \
	  $(PY) -m pytest -q -p no:cacheprovider; \
	else echo "PostgreSQL/Redis not reachable on 127.0.0.1: ran the SQLite + embedded suite only"; fi

# The lowest supported versions (README, "Supported versions"): a second venv with ci/lowest-constraints.txt
# pinned (Flask 2.3, Flask-Admin 1.6, Flask-SQLAlchemy 3.1, SQLAlchemy 2.0, RQ 3.0, redis-py 5.0), running the tests that
# exercise Flask, Flask-Admin, Flask-SQLAlchemy and RQ, on SQLite with the embedded queue. .ci/run calls it
# after `make test`.
LOWEST_VENV ?= build/lowest-venv
LOWEST_STAMP = $(LOWEST_VENV)/.installed
LOWEST_TESTS = tests/test_extension.py tests/test_admin.py tests/test_example_shop.py tests/test_variant_shop.py \
  tests/test_exports.py tests/test_cli.py tests/test_i18n.py tests/test_doors.py tests/test_callback_log.py \
  tests/test_queue.py tests/test_outbox_listeners.py tests/test_security.py tests/test_checks.py tests/test_migrations.py

$(LOWEST_STAMP): setup.py ci/lowest-constraints.txt
	rm -rf $(LOWEST_VENV)
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/python -m pip install -q --upgrade pip
	$(LOWEST_VENV)/bin/python -m pip install -q -c ci/lowest-constraints.txt -e '.[embedded,migrations]' \
	  pytest pytest-timeout freezegun waitress flask-migrate
	touch $(LOWEST_STAMP)

test-lowest: $(LOWEST_STAMP)
	$(LOWEST_VENV)/bin/python -c "import flask, flask_admin, flask_sqlalchemy, rq, redis; from importlib.metadata import version as v; \
	  print('lowest:', *(f'{d} {v(d)}' for d in ('flask', 'flask-admin', 'flask-sqlalchemy', 'sqlalchemy', 'rq', 'redis', 'wtforms')))"
	env -u TEST_DATABASE_URL -u TEST_REDIS_URL $(LOWEST_VENV)/bin/python -m pytest -q -p no:cacheprovider --timeout 180 $(LOWEST_TESTS)

lint: $(STAMP)
	$(VENV)/bin/ruff check flask_specter example_shop examples tests bench
	$(VENV)/bin/mypy

# The guide and the API reference (docs/, autodoc); warnings are errors, as in `make test`.
docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs build/docs
	@echo "open build/docs/index.html"

# Every benchmark, each printing its figures next to a baseline measured in the same run (README, Benchmarks).
# Needs PostgreSQL and Redis on 127.0.0.1 and a quiet machine; `wrk` (Debian package) for the callback storm.
bench: $(STAMP)
	$(PY) bench/stock_sync.py
	$(PY) bench/checkout_contention.py
	$(PY) bench/memory.py
	$(PY) bench/latency.py
	$(PY) bench/orders_push.py
	$(PY) bench/checkout_cost.py
	$(PY) bench/callback_latency.py
	$(PY) bench/shop_listing.py

# The extension's own strings (Swedish msgids, domain flask_specter): collect them from the code and the
# templates, add new ones to the English catalogue (translate the empty msgstr in the .po), compile the .mo.
# tests/test_i18n.py fails while a msgid has no English or the .mo is older than the .po.
translations: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k lazy_gettext -k N_ -k _ --no-location --sort-output \
	  --project Flask-Specter --copyright-holder Flask-Specter -o flask_specter/translations/flask_specter.pot .
	$(VENV)/bin/pybabel update -i flask_specter/translations/flask_specter.pot -d flask_specter/translations \
	  -D flask_specter --no-fuzzy-matching --ignore-obsolete --width 120
	$(VENV)/bin/pybabel compile -d flask_specter/translations -D flask_specter --statistics

clean:
	rm -rf $(VENV) var build *.egg-info
