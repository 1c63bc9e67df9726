"""``python -m flask_specter.sandbox``: serve the Specter simulator with werkzeug's threaded server.

For development and tests only. It has no authentication: anyone who reaches the port can read its
state and change its data. It binds 127.0.0.1 and refuses any other address unless --allow-remote is
given; never expose it to a network you do not control."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType
from typing import NoReturn

from .app import create_app
from .config import DEFAULTS, build_config
from .guard import WARNING, is_loopback
from .serving import serve
from .state import EXTENSION_KEY


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m flask_specter.sandbox", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=8099)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other needs --allow-remote)")
    p.add_argument("--allow-remote", action="store_true",
                   help="bind a non-loopback address anyway: everyone who reaches it can drive the sandbox (no authentication)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="a Host name the page and hooks answer besides localhost/127.0.0.1/[::1] (repeatable; DNS rebinding guard)")
    p.add_argument("--db", default=None, help=f"SQLite file (default {DEFAULTS['SANDBOX_DB']})")
    p.add_argument("--sbm-id")
    p.add_argument("--api-user-id")
    p.add_argument("--user-key")
    p.add_argument("--integration-key")
    p.add_argument("--response-max-limit", type=int)
    p.add_argument("--callback-retries", type=int)
    p.add_argument("--callback-backoff", type=float, help="seconds before the first retry; doubles each time")
    p.add_argument("--callback-timeout", type=float)
    p.add_argument("--no-callbacks", action="store_true", help="start with callbacks paused")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not is_loopback(args.host) and not args.allow_remote:
        print(f"Refusing to bind {args.host}: not a loopback address. {WARNING} "
              "Pass --allow-remote if you really mean it.", file=sys.stderr)
        return 2
    config = build_config({
        "SPECTER_SBM_ID": args.sbm_id,
        "SPECTER_API_USER_ID": args.api_user_id,
        "SPECTER_USER_KEY": args.user_key,
        "SPECTER_INTEGRATION_KEY": args.integration_key,
        "SANDBOX_DB": args.db,
        "SANDBOX_RESPONSE_MAX_LIMIT": args.response_max_limit,
        "SANDBOX_CALLBACK_RETRIES": args.callback_retries,
        "SANDBOX_CALLBACK_BACKOFF": args.callback_backoff,
        "SANDBOX_CALLBACK_TIMEOUT": args.callback_timeout,
        "SANDBOX_CALLBACKS_ENABLED": False if args.no_callbacks else None,
        "SANDBOX_ALLOWED_HOSTS": tuple(args.allow_host) or None,
    })
    app = create_app(config)
    server = serve(app, args.host, args.port)

    def _stop(_signum: int, _frame: FrameType | None) -> NoReturn:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    print(
        f"Specter sandbox on http://{args.host}:{server.port}/ "
        f"(sbmId {config['SPECTER_SBM_ID']}, db {config['SANDBOX_DB']}). {WARNING}",
        flush=True,
    )
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        app.extensions[EXTENSION_KEY].close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
