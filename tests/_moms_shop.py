"""Helpers for the moms shop's tests: the shop made and cleaned up, a customer driving it over HTTP as a
browser would (forms with their CSRF tokens), a worker process, and reads of both sides."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import requests
from sqlalchemy import select

from .conftest import _drop_queue

ADMIN_PASSWORD = "fika-hemligt"
# The seeded catalogue (examples/moms_shop/seed.py): prices including moms, VAT rate, first stock count.
CATALOGUE = {
    "KAFFE-MORK": (Decimal("89.00"), Decimal("12"), 40),
    "TE-EARL": (Decimal("65.00"), Decimal("12"), 30),
    "MUGG-ROD": (Decimal("149.00"), Decimal("25"), 25),
    "MUGG-BLA": (Decimal("169.00"), Decimal("25"), 20),
    "FIKAPAKET": (Decimal("349.00"), Decimal("25"), 0),
}
KIT = {"FIKAPAKET": [("KAFFE-MORK", 1), ("MUGG-ROD", 2)]}
STOCKED = ("KAFFE-MORK", "TE-EARL", "MUGG-ROD", "MUGG-BLA")
SHIPPING = Decimal("59.00")


def excl(gross: Decimal, vat: Decimal, places: int = 2) -> Decimal:
    """The price without moms, half up: to the öre on articles, to 3 decimals on order rows (the contract's)."""
    return (gross / (1 + vat / 100)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def expected_rows(cart: list[tuple[str, int]]) -> list[tuple[str, int, Decimal, int]]:
    """(articleNo, qty, price excl. moms, VAT %) of the order's rows: each line's articles (a kit: its
    components, the kit's price shared out by their own prices); shipping last (free from 800 kr)."""
    rows = []
    total = Decimal("0")
    for sku, qty in cart:
        price, vat, _ = CATALOGUE[sku]
        total += price * qty
        parts = KIT.get(sku) or [(sku, 1)]
        worth = sum(CATALOGUE[part][0] * n for part, n in parts)
        for part, n in parts:
            part_price, part_vat, _ = CATALOGUE[part]
            rows.append((part, n * qty, excl(price * part_price / worth, part_vat, 3), int(part_vat)))
    if total < Decimal("800"):
        rows.append(("frakt", 1, excl(SHIPPING, Decimal("25"), 3), 25))
    return rows


def shipped(cart: list[tuple[str, int]]) -> dict[str, int]:
    """How many of each stocked article the cart takes out of the shop (a kit: its components)."""
    out: dict[str, int] = {}
    for sku, qty in cart:
        for part, n in KIT.get(sku) or [(sku, 1)]:
            out[part] = out.get(part, 0) + n * qty
    return out


def make_app(shop_config, **overrides):
    from examples.moms_shop import create_app

    return create_app({**shop_config, "ADMIN_PASSWORD": ADMIN_PASSWORD, **overrides})


def close(app) -> None:
    state = app.extensions["specter"]
    state.queue.stop_worker(timeout=2)
    if not state.queue.embedded:
        _drop_queue(state.queue)
    with app.app_context():
        state.db.session.remove()
        state.db.engine.dispose()


def seed(app, sandbox) -> None:
    from examples.moms_shop.seed import seed as seed_catalogue

    sandbox.hooks.create_articles([{"articleNo": "frakt", "name": "Frakt", "vatPercent": 25}])
    with app.app_context():
        seed_catalogue()


def stock(app) -> dict[str, int]:
    from examples.moms_shop.models import Variant, db

    with app.app_context():
        db.session.remove()
        return dict(db.session.execute(select(Variant.sku, Variant.stock)).tuples().all())


def shop_orders(app) -> dict[str, dict]:
    from examples.moms_shop.models import Order, db

    with app.app_context():
        db.session.remove()
        rows = db.session.execute(select(Order).order_by(Order.id)).scalars().all()
        return {o.number: {"status": o.status, "email": o.email, "user_id": o.user_id} for o in rows}


def worker_env(app) -> dict[str, str]:
    """The app's configuration for a ``flask --app examples.moms_shop`` process: the shop reads ``FLASK_*``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "SPECTER_"))}
    for key, value in app.config.items():
        if key.startswith("SPECTER_") or key in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "SECRET_KEY", "ADMIN_PASSWORD"):
            if value is None or isinstance(value, (str, int, float, bool)):
                env[f"FLASK_{key}"] = json.dumps(value)
    env["FLASK_TESTING"] = "false"
    return env


def start_worker(app) -> subprocess.Popen:
    """``flask specter worker`` for this shop, as it is deployed: a process of its own (and its own group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "examples.moms_shop", "specter", "worker", "--no-fork"],
        env=worker_env(app),
        stdout=open(os.environ.get("SPECTER_TEST_WORKER_LOG", os.devnull), "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_VARIANT = re.compile(r'<li data-sku="([^"]+)" data-available="(-?\d+)">.*?name="variant_id" value="(\d+)"', re.S)
_PAY = re.compile(r'id="pay" href="([^"]+)"')


@dataclass
class Customer:
    """One visitor with a browser's cookie jar, over real HTTP; every answer's status is kept."""

    base: str
    statuses: list[tuple[str, int]] = field(default_factory=list)
    last: str = ""  # the last checkout's answer, for a failing test's message

    def __post_init__(self) -> None:
        self.http = requests.Session()

    def _check(self, method: str, path: str, resp: requests.Response) -> requests.Response:
        self.statuses.append((f"{method} {path}", resp.status_code))
        return resp

    def get(self, path: str) -> requests.Response:
        return self._check("GET", path, self.http.get(self.base + path, timeout=60))

    def post(self, path: str, data: dict) -> requests.Response:
        return self._check("POST", path, self.http.post(self.base + path, data=data, timeout=60))

    def catalogue(self) -> dict[str, tuple[int, int]]:
        """SKU -> (variant id, available) from the front page (which makes this visitor's cart)."""
        page = self.get("/").text
        return {sku: (int(vid), int(avail)) for sku, avail, vid in _VARIANT.findall(page)}

    def buy(self, cart: list[tuple[str, int]], buyer: dict[str, str]) -> str:
        """Put ``cart`` in the cart and check out as a guest; the order number, or "" when the shop said no."""
        listed = self.catalogue()
        for sku, qty in cart:
            if sku not in listed:
                return ""
            token = self._token(self.get("/"))
            self.post("/varukorg", {"csrf_token": token, "variant_id": listed[sku][0], "quantity": qty})
        resp = self.post("/kassa", {"csrf_token": self._token(self.get("/kassa")), **buyer})
        self.last = f"{resp.status_code} {resp.url}\n{resp.text[-3000:]}"
        match = re.search(r"/betala/(\d+)$", resp.url)
        return match.group(1) if match and resp.ok else ""

    def pay(self, number: str, transaction_id: str | None = None) -> str:
        """Pay at the provider's page and come back; the order's status as the thank-you page shows it ("" on an error)."""
        found = _PAY.search(self.get(f"/betala/{number}").text)
        if not found:
            return ""
        link = html.unescape(found.group(1))
        if transaction_id:
            link = re.sub(r"transaction_id=[^&]+", f"transaction_id={transaction_id}", link)
        status = re.search(r'data-status="([^"]+)"', self.get(link).text)
        return status.group(1) if status else ""

    @staticmethod
    def _token(resp: requests.Response) -> str:
        found = _CSRF.search(resp.text)
        return found.group(1) if found else ""

    def errors(self) -> list[tuple[str, int]]:
        return [(what, status) for what, status in self.statuses if status >= 500]


def buyer(name: str, n: int = 0) -> dict[str, str]:
    slug = re.sub(r"[^a-z]", "", name.lower().replace("å", "a").replace("ä", "a").replace("ö", "o")) or "kund"
    return {"email": f"{slug}{n or ''}@example.se", "name": name, "phone": f"070-12345{n:02d}", "street": f"Byvägen {n + 1}",
            "postcode": "123 45", "city": "Västerås"}


def unique_queue() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"
