"""``flask specter worker`` whose Python clock is ``SPECTER_TEST_CLOCK_SKEW`` seconds off: a host whose clock
drifted. Both clocks the package reads are moved (``time.time`` and ``models.utcnow``); the database's is not."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

SKEW = float(os.environ["SPECTER_TEST_CLOCK_SKEW"])
_real_time = time.time
time.time = lambda: _real_time() + SKEW

import flask_specter.models as models  # noqa: E402  # after the clock is moved: every later import reads it

models.utcnow = lambda: (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=SKEW)).replace(tzinfo=None)

from flask.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.argv = ["flask", "--app", "example_shop", "specter", "worker", "--no-fork"]
    main()
