"""The shop's own cache of product listings: Redis on ``REDIS_URL`` when set, a dict in the process otherwise.

Listings are cached for ``CACHE_TIMEOUT`` seconds under ``CACHE_KEY_PREFIX``, each with the stamp it
was built at (the variants' latest ``updated_at``): an entry whose stamp is not the current one is not
served. So a stock written by anyone (the shop's checkout and payment, which also forget the products
they change, a script, or Specter's stock writes, which move ``onupdate`` columns) is never listed stale.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from typing import Any

import redis
from flask import Flask, current_app

LISTING = "products"


def product_key(product_id: int) -> str:
    return f"product:{product_id}"


class ListingCache:
    def __init__(self, app: Flask) -> None:
        url = app.config.get("REDIS_URL")
        self.prefix = app.config.get("CACHE_KEY_PREFIX", "variant_shop:")
        self.timeout = int(app.config.get("CACHE_TIMEOUT", 300))
        self.redis = redis.Redis.from_url(url) if url else None
        self._local: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, stamp: str | None = None) -> Any | None:
        """The value stored under ``key``, or None; with ``stamp``, None unless it was stored with it."""
        if self.redis is not None:
            raw = self.redis.get(self.prefix + key)
        else:
            with self._lock:
                expires, raw = self._local.get(key, (0.0, None))
            raw = raw if expires > time.monotonic() else None
        if raw is None:
            return None
        stored, value = json.loads(raw)
        return value if stamp is None or stored == stamp else None

    def set(self, key: str, value: Any, stamp: str | None = None) -> None:
        raw = json.dumps([stamp, value])
        if self.redis is not None:
            self.redis.set(self.prefix + key, raw, ex=self.timeout)
            return
        with self._lock:
            self._local[key] = (time.monotonic() + self.timeout, raw)

    def delete(self, *keys: str) -> None:
        if self.redis is not None:
            if keys:
                self.redis.delete(*(self.prefix + k for k in keys))
            return
        with self._lock:
            for key in keys:
                self._local.pop(key, None)

    def forget_products(self, product_ids: Iterable[int]) -> None:
        """The listing and each of these products' pages."""
        self.delete(LISTING, *(product_key(pid) for pid in set(product_ids)))

    def clear(self) -> None:
        if self.redis is not None:
            keys = list(self.redis.scan_iter(self.prefix + "*"))
            if keys:
                self.redis.delete(*keys)
            return
        with self._lock:
            self._local.clear()


def init_cache(app: Flask) -> ListingCache:
    cache = app.extensions["variant_shop_cache"] = ListingCache(app)
    return cache


def get_cache(app: Flask | None = None) -> ListingCache:
    cache: ListingCache = (app or current_app).extensions["variant_shop_cache"]
    return cache
