"""SpecterClient: signing, ISO-8859-1 encoding, HTTP with timeouts, typed results and errors.

One client per app holds one ``requests.Session``, so connections to Specter are reused. Nothing here
logs a key, a secret or a request body: only the action, the outcome and the time it took.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote_plus, urljoin
from xml.etree.ElementTree import Element

import requests
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as _safe_fromstring
from defusedxml.ElementTree import iterparse as _safe_iterparse

from . import parsing, protocol
from .deadline import Deadline, DeadlineAdapter
from .errors import SpecterConfigError, SpecterEncodingError, SpecterProtocolError, SpecterTimeout, SpecterUnavailable, api_error
from .feed_stream import READ_CHUNK, Body, FeedStream
from .parsing import RECORD_PATH, FeedBatch, FeedMeta, Reply, iter_articles_xml, iter_orders_xml, iter_stock_text, iter_stock_xml, walk_xml

log = logging.getLogger("flask_specter.client")

_XML_ENCODING = re.compile(rb"<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']")
_LATIN1_NAMES = {"iso-8859-1", "latin-1", "latin1", "iso8859-1", "l1", "us-ascii", "ascii", "windows-1252", "cp1252"}


def encode_params(params: Mapping[str, Any], *, action: str) -> str:
    """Percent-encode ``params`` as ISO-8859-1; a value latin-1 cannot hold is an error naming its field."""
    parts = []
    for name, value in params.items():
        if value is None:
            continue
        text = _wire_text(value)
        try:
            raw = text.encode(protocol.WIRE_ENCODING)
        except UnicodeEncodeError as exc:
            bad = text[exc.start : exc.end]
            raise SpecterEncodingError(
                f"{action}: field {name!r} holds {bad!r}, which Specter's ISO-8859-1 cannot carry",
                field=name,
                action=action,
            ) from None
        parts.append(f"{quote_plus(name)}={quote_plus(raw)}")
    return "&".join(parts)


def _wire_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


class SpecterClient:
    """Every action of the contract (§2-§6) as a method returning typed results."""

    def __init__(
        self,
        api_url: str,
        sbm_id: str,
        api_user_id: str,
        user_key: str,
        integration_key: str,
        *,
        timeout: float = 30.0,
        verify_tls: bool = True,
        max_response_bytes: int = 64 * 1024 * 1024,
        session: requests.Session | None = None,
    ):
        if not api_url:
            raise SpecterConfigError("SPECTER_API_URL is not set", settings=("SPECTER_API_URL",))
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self.sbm_id = str(sbm_id)
        self.api_user_id = str(api_user_id)
        self._user_key = user_key
        self._integration_key = integration_key
        self.timeout = float(timeout)
        self.verify_tls = verify_tls
        self.max_response_bytes = max_response_bytes
        self.session = session or self._own_session(self.api_url, verify_tls)
        adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def _own_session(self, url: str, verify_tls: bool) -> requests.Session:
        """A session that reads the environment's proxy and CA-bundle settings (``HTTPS_PROXY``,
        ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ...) once, here, rather than on every call: requests' look
        through the environment per request cost a noticeable part of a short call to Specter."""
        session = requests.Session()
        settings = session.merge_environment_settings(url, {}, None, verify_tls, None)
        session.proxies.update(settings["proxies"])
        self.verify_tls = settings["verify"]
        session.trust_env = False
        return session

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SpecterClient:
        return cls(
            config["SPECTER_API_URL"],
            config["SPECTER_SBM_ID"],
            config["SPECTER_API_USER_ID"],
            config["SPECTER_USER_KEY"],
            config["SPECTER_INTEGRATION_KEY"],
            timeout=config.get("SPECTER_TIMEOUT", 30.0),
            verify_tls=config.get("SPECTER_VERIFY_TLS", True),
            max_response_bytes=config.get("SPECTER_MAX_RESPONSE_BYTES", 64 * 1024 * 1024),
        )

    def __repr__(self) -> str:  # never show the secrets
        return f"<SpecterClient {self.api_url} sbmId={self.sbm_id}>"

    def close(self) -> None:
        self.session.close()

    # -- signing and transport -------------------------------------------------------------------

    def sign(self, action: str, params: Mapping[str, Any]) -> str:
        x = protocol.key_input(action, {k: _wire_text(v) for k, v in params.items() if v is not None})
        try:
            return protocol.sign(self._integration_key, self._user_key, self.sbm_id, x)
        except UnicodeEncodeError:
            raise SpecterEncodingError(f"{action}: the signed value {x!r} is not ISO-8859-1", action=action) from None

    def call(self, action: str, params: Mapping[str, Any] | None = None, *, query: Mapping[str, Any] | None = None) -> tuple[str, Any]:
        """Send ``action`` and return ``("text", body)`` or ``("xml", root)``; errors are raised typed.

        ``params`` go in the query string for getInfo.asp and in the form body for putInfo.asp;
        ``query`` always goes in the query string (flags such as ``forceCustomerUpdate``).
        """
        return self._call(action, params, query=query, stream=False)

    def _call(self, action: str, params: Mapping[str, Any] | None, *, query: Mapping[str, Any] | None = None, stream: bool) -> tuple[str, Any]:
        """``call``; with ``stream`` a feed's answer comes back unparsed as ``("text"|"xml", Body)``."""
        params = dict(params or {})
        script = protocol.ACTION_SCRIPT[action]
        head: dict[str, Any] = {"action": action, "sbmId": self.sbm_id, "apiUserId": self.api_user_id}
        use_xml = params.pop("useXML", None)
        if use_xml is not None:
            head["useXML"] = use_xml
        head.update(query or {})
        key = self.sign(action, params)
        url = urljoin(self.api_url, script)
        started = time.monotonic()
        deadline = Deadline(self.timeout)  # SPECTER_TIMEOUT bounds the whole answer, not each read
        try:
            with deadline:
                body, response = self._exchange(action, script, url, head, params, key)
        except Exception as exc:
            if deadline.expired:
                log.warning("specter %s: no whole answer within %.1fs", action, time.monotonic() - started)
                raise SpecterTimeout(f"Specter did not answer {action} within {self.timeout:g} s", action=action) from exc
            if isinstance(exc, requests.Timeout):
                log.warning("specter %s timed out after %.1fs", action, time.monotonic() - started)
                raise SpecterTimeout(f"Specter did not answer {action} within {self.timeout:g} s", action=action) from exc
            if isinstance(exc, requests.ConnectionError):
                log.warning("specter %s: connection failed", action)
                raise SpecterUnavailable(f"Specter could not be reached for {action}: {type(exc).__name__}", action=action) from exc
            if isinstance(exc, requests.RequestException):
                raise SpecterUnavailable(f"Specter call {action} failed: {type(exc).__name__}", action=action) from exc
            raise
        elapsed = time.monotonic() - started
        try:
            kind, payload = self._parse(action, response, body, params.get("batchNo"), stream=stream)
        except BaseException:
            body.close()
            raise
        if not stream:
            body.close()
        log.info("specter %s ok in %.0f ms", action, elapsed * 1000)
        return kind, payload

    def _exchange(self, action: str, script: str, url: str, head: dict[str, Any], params: dict[str, Any], key: str) -> tuple[Body, requests.Response]:
        """Send the request and read the whole body (streamed into a spool, capped)."""
        if script == protocol.GET_SCRIPT:
            qs = encode_params({**head, **params, "key": key}, action=action)
            response = self.session.get(f"{url}?{qs}", timeout=self.timeout, verify=self.verify_tls, stream=True, allow_redirects=False)
        else:
            qs = encode_params(head, action=action)
            body = encode_params({**params, "key": key}, action=action)
            response = self.session.post(
                f"{url}?{qs}",
                data=body.encode("ascii"),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=ISO-8859-1"},
                timeout=self.timeout,
                verify=self.verify_tls,
                stream=True,
                allow_redirects=False,
            )
        return self._read_capped(response, action), response

    def _read_capped(self, response: requests.Response, action: str) -> Body:
        body = Body()
        try:
            for chunk in response.iter_content(READ_CHUNK):
                if body.size + len(chunk) > self.max_response_bytes:
                    raise SpecterProtocolError(
                        f"Specter's answer to {action} is larger than {self.max_response_bytes} bytes; refused unread",
                        action=action,
                    )
                body.write(chunk)
            body.finish()
        except BaseException:
            body.close()
            raise
        finally:
            response.close()
        return body

    def _parse(self, action: str, response: requests.Response, body: Body, sent_batch: str | None, *, stream: bool = False) -> tuple[str, Any]:
        ctype = response.headers.get("Content-Type", "").lower()
        head = body.head.lstrip().lower()
        looks_html = "text/html" in ctype or head.startswith(b"<!doctype html") or head.startswith(b"<html")
        if response.status_code >= 500 or (response.status_code != 200 and looks_html):
            raise SpecterUnavailable(f"Specter answered {action} with HTTP {response.status_code}", action=action)
        if response.status_code != 200:
            raise SpecterProtocolError(f"Specter answered {action} with HTTP {response.status_code}", action=action)
        if looks_html:
            raise SpecterUnavailable(f"Specter answered {action} with an HTML page instead of an API answer", action=action)
        self._check_encoding(action, ctype, body)
        if head.startswith(b"<"):
            if stream:
                return "xml", body
            root = self._parse_xml(action, body.read())
            self._raise_for_xml(action, root, sent_batch)
            return "xml", root
        if head.startswith(b"0;"):
            text = body.read().decode(protocol.WIRE_ENCODING).lstrip()
            parts = text.split(";", 2)
            code = (parsing.small_int(parts[1]) if len(parts) > 1 else None) or 0
            raise api_error(code, parts[2].strip() if len(parts) > 2 else "", action=action, sent_batch=sent_batch)
        if stream:
            return "text", body
        return "text", body.read().decode(protocol.WIRE_ENCODING)

    def _check_encoding(self, action: str, ctype: str, body: Body) -> None:
        charset = ""
        if "charset=" in ctype:
            charset = ctype.split("charset=", 1)[1].split(";")[0].strip().strip('"')
        declared = _XML_ENCODING.match(body.head.lstrip())
        if declared:
            charset = declared.group(1).decode("ascii")
        if charset and charset.lower() not in _LATIN1_NAMES:
            raise SpecterEncodingError(f"Specter answered {action} in {charset}, not ISO-8859-1", action=action)
        if not body.ascii and body.utf8:
            raise SpecterEncodingError(f"Specter's answer to {action} is UTF-8, not ISO-8859-1; refused so no text is garbled", action=action)

    def _parse_xml(self, action: str, raw: bytes) -> Element:
        try:
            return _safe_fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except DefusedXmlException as exc:
            raise SpecterProtocolError(f"Specter's answer to {action} contains forbidden XML ({type(exc).__name__}); refused", action=action) from exc
        except ParseError as exc:
            raise SpecterProtocolError(f"Specter's answer to {action} is not well-formed XML: {exc}", action=action) from exc

    @staticmethod
    def _raise_for_xml(action: str, root: Element, sent_batch: str | None) -> None:
        resp = root.find("APIresponse")
        if resp is not None:
            SpecterClient._raise_for_response(action, resp, sent_batch)

    @staticmethod
    def _raise_for_response(action: str, resp: Element, sent_batch: str | None) -> None:
        result = (resp.findtext("result") or "").strip()
        code_text = (resp.findtext("code") or "").strip()
        code = parsing.small_int(code_text) or 0
        if result == "0" or (result == "" and code not in (0,)):
            raise api_error(code, (resp.findtext("message") or "").strip(), action=action, sent_batch=sent_batch)

    @staticmethod
    def _reply(kind: str, payload: Any) -> Reply:
        if kind == "xml":
            resp = payload.find("APIresponse")
            rid = (resp.findtext("id") or resp.findtext("code") or "") if resp is not None else ""
            msg = (resp.findtext("message") or "") if resp is not None else ""
            return Reply(id=rid.strip(), message=msg.strip())
        parts = payload.strip().split(";", 2)
        if parts[0] != "1":
            raise SpecterProtocolError(f"Specter sent an answer that is neither '1;…' nor '0;…': {payload[:80]!r}")
        return Reply(id=parts[1].strip() if len(parts) > 1 else "", message=parts[2].strip() if len(parts) > 2 else "")

    # -- account ---------------------------------------------------------------------------------

    def check_account_settings(self, callbacks: Mapping[str, str], *, date: _dt.date | None = None) -> Reply:
        """Register the callback URLs (``actionStockChange`` …); an empty value disables one."""
        params: dict[str, Any] = {"date": (date or _dt.date.today()).isoformat(), "useXML": 1}
        for name in protocol.CALLBACK_PARAMS:
            params[name] = callbacks.get(name, "")
        return self._reply(*self.call(protocol.CHECK_ACCOUNT_SETTINGS, params))

    # -- feeds -----------------------------------------------------------------------------------

    def open_feed(self, feed: str, batch_no: str, *, sites: Iterable[str] | None = None, use_xml: bool = False) -> FeedStream:
        """Fetch a batch of ``feed`` and parse it as it is iterated (a pull stores it page by page).

        The stock feed comes as text, or (with ``sites`` or ``use_xml``) as the multi-stock-site XML,
        summed over the wanted sites. An error answer (an open batch: 99) is raised here, before any row.
        """
        action = protocol.FEEDS[feed].fetch_action
        params: dict[str, Any] = {"batchNo": batch_no, "useXML": 2}
        site_set = {str(s) for s in sites} if sites else None
        if feed == "stock":
            params = {"batchNo": batch_no, **({"useXML": 2, "getMultipleStocksites": 1} if site_set or use_xml else {})}
        kind, body = self._call(action, params, stream=True)
        meta = FeedMeta()
        items: Iterator[Any]
        if kind == "text":
            if feed != "stock":
                body.close()
                raise SpecterProtocolError(f"Specter answered the {'article' if feed == 'articles' else 'orders'} feed with text, expected XML")
            items = iter_stock_text(body.text_chunks(protocol.WIRE_ENCODING))
        else:
            events = _safe_iterparse(body.file, events=("start", "end"), forbid_dtd=True, forbid_entities=True, forbid_external=True)
            records = walk_xml(events, RECORD_PATH[feed], meta, lambda resp: self._raise_for_response(action, resp, batch_no))
            if feed == "stock":
                items = iter_stock_xml(records, site_set, meta)
            else:
                items = iter_articles_xml(records) if feed == "articles" else iter_orders_xml(records)
        return FeedStream(feed, batch_no, items, meta, body, action)

    def fetch_stock(self, batch_no: str, *, sites: Iterable[str] | None = None, use_xml: bool = False) -> FeedBatch:
        """Fetch the stock feed; with ``sites`` (or ``use_xml``) the multi-stock-site XML is summed."""
        with self.open_feed("stock", batch_no, sites=sites, use_xml=use_xml) as stream:
            return stream.collect()

    def fetch_articles(self, batch_no: str) -> FeedBatch:
        with self.open_feed("articles", batch_no) as stream:
            return stream.collect()

    def fetch_orders(self, batch_no: str) -> FeedBatch:
        with self.open_feed("orders", batch_no) as stream:
            return stream.collect()

    def fetch(self, feed: str, batch_no: str, **kwargs: Any) -> FeedBatch:
        return {"stock": self.fetch_stock, "articles": self.fetch_articles, "orders": self.fetch_orders}[feed](batch_no, **kwargs)

    def confirm(self, feed: str, batch_no: str) -> Reply:
        """Confirm a batch: Specter clears its frozen changes. Confirming twice is a success."""
        return self._reply(*self.call(protocol.FEEDS[feed].confirm_action, {"batchNo": batch_no, "useXML": 1}))

    def clear_article_batch(self, batch_no: str | None = None) -> Reply:
        """Queue every article in the stock feed again ("Uppdatera lager")."""
        params = {"batchNo": batch_no or protocol.new_batch_no(), "clearSelf": 1, "useXML": 1}
        return self._reply(*self.call(protocol.CLEAR_ARTICLE_BATCH, params))

    # -- writes ----------------------------------------------------------------------------------

    def submit_customer(
        self,
        fields: Mapping[str, Any],
        *,
        force_update: bool = True,
        ignore_email: bool = False,
        ignore_org_no: bool = False,
    ) -> Reply:
        """Create or match a customer; ``Reply.id`` is Specter's customer number."""
        query = {
            "forceCustomerUpdate": int(force_update),
            "ignoreControlEmail": int(ignore_email),
            "ignoreControlOrgNo": int(ignore_org_no),
        }
        return self._reply(*self.call(protocol.NEW_CUSTOMER, {**fields, "useXML": 1}, query=query))

    def submit_articles(self, rows: Sequence[Mapping[str, Any]], *, force_update: bool = False, add_supplier: bool = False) -> Reply:
        """Create or update up to 100 articles; keys of each row are the contract's field names without ``_n``."""
        if not rows:
            raise ValueError("submit_articles needs at least one row")
        if len(rows) > 100:
            raise ValueError("Specter takes at most 100 articles per newArticleSubmit")
        params: dict[str, Any] = {}
        for n, row in enumerate(rows, start=1):
            for name, value in row.items():
                params[f"{name}_{n}"] = value
        params.update(forceArticleUpdate=int(force_update), addSupplier=int(add_supplier), useXML=1)
        return self._reply(*self.call(protocol.NEW_ARTICLE, params))

    def delete_article(self, article_no: str) -> Reply:
        return self._reply(*self.call(protocol.DELETE_ARTICLE, {"articleNo": article_no, "useXML": 1}))

    def submit_order(self, header: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> Reply:
        """Create an order; ``Reply.id`` is Specter's order number. A duplicate raises code 23."""
        params: dict[str, Any] = dict(header)
        for n, row in enumerate(rows, start=1):
            for name, value in row.items():
                params[f"{name}_{n}"] = value
        params["useXML"] = 1
        return self._reply(*self.call(protocol.NEW_ORDER, params))

    def delete_order(self, order_id: str) -> Reply:
        return self._reply(*self.call(protocol.DELETE_ORDER, {"orderId": order_id, "useXML": 1}))
