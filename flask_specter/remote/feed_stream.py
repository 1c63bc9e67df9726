"""An answer read into a spool file, and a feed's batch parsed from it item by item.

The whole answer is still read under one deadline and one byte cap (``client.py``), but into a
``SpooledTemporaryFile`` (in memory up to ``SPOOL_IN_MEMORY``, on disk past it) instead of one bytes
object; the connection is back in the pool before the rows are stored. ``FeedStream`` then parses the
spool as it is iterated, so a pull holds the rows of one insert page, not the batch.
"""

from __future__ import annotations

import codecs
import tempfile
from collections.abc import Iterator
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError

from .errors import SpecterProtocolError
from .parsing import FeedBatch, FeedMeta

SPOOL_IN_MEMORY = 1 << 18  # an answer larger than this (256 kB) waits on disk, not in the worker's memory
READ_CHUNK = 1 << 16
HEAD_BYTES = 4096  # what the checks look at: the XML declaration, an HTML page, a ``0;`` error


class Body:
    """The bytes of one answer with what the checks need (its head; ASCII or not; valid UTF-8 or not),
    learned while they were written, so nothing reads them twice."""

    def __init__(self) -> None:
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        self.size = 0
        self.head = b""
        self.ascii = True
        self.utf8 = True
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        if self.ascii and not chunk.isascii():
            self.ascii = False
        if self.utf8:
            try:
                self._decoder.decode(chunk)
            except UnicodeDecodeError:
                self.utf8 = False
        self.file.write(chunk)

    def finish(self) -> None:
        if self.utf8:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.utf8 = False
        self.file.seek(0)

    def read(self) -> bytes:
        """Everything (small answers: replies and errors)."""
        self.file.seek(0)
        data: bytes = self.file.read()
        return data

    def text_chunks(self, encoding: str) -> Iterator[str]:
        """The answer as text, one chunk at a time (a single-byte encoding: no character is split)."""
        self.file.seek(0)
        while chunk := self.file.read(READ_CHUNK):
            yield chunk.decode(encoding)

    def close(self) -> None:
        self.file.close()


_END: Any = object()


class FeedStream:
    """One fetched batch, parsed as it is iterated (once). ``empty`` is known at once: the first item is
    read ahead, which also raises an error answer (an open batch, 99) before anything is stored.
    ``more``, ``limit`` and ``duplicates`` are complete once every item has been read."""

    def __init__(self, feed: str, batch_no: str, items: Iterator[Any], meta: FeedMeta, body: Body, action: str):
        self.feed = feed
        self.batch_no = batch_no
        self._items = items
        self._meta = meta
        self._body = body
        self._action = action
        self._first = self._next()

    def _next(self) -> Any:
        try:
            return next(self._items)
        except StopIteration:
            self.close()
            return _END
        except DefusedXmlException as exc:
            self.close()
            raise SpecterProtocolError(f"Specter's answer to {self._action} contains forbidden XML ({type(exc).__name__}); refused", action=self._action) from exc
        except ParseError as exc:
            self.close()
            raise SpecterProtocolError(f"Specter's answer to {self._action} is not well-formed XML: {exc}", action=self._action) from exc
        except BaseException:
            self.close()
            raise

    @property
    def empty(self) -> bool:
        return self._first is _END

    def __iter__(self) -> Iterator[Any]:
        item, self._first = self._first, _END
        while item is not _END:
            self._meta.count += 1
            yield item
            item = self._next()

    @property
    def count(self) -> int:
        return self._meta.count

    @property
    def more(self) -> bool:
        return self._meta.more

    @property
    def limit(self) -> int | None:
        return self._meta.limit

    @property
    def duplicates(self) -> frozenset[str]:
        return self._meta.duplicates

    def collect(self) -> FeedBatch:
        """The whole batch as a list (small feeds, tests, ``flask specter check``)."""
        items = list(self)
        return FeedBatch(self.feed, self.batch_no, items, self.more, self.limit, self.duplicates)

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> FeedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

