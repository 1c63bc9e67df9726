"""Injected failures for the next N API calls, so a client's error handling can be tested for real.

Modes: ``fail`` (HTTP error page, nothing processed), ``slow`` (sleep, then process), ``after`` (process
and commit, then answer 500: the lost acknowledgement), ``body`` (a raw body, nothing processed),
``drop`` (close the connection without an answer, nothing processed), ``replace`` (process and commit,
then answer the raw body instead, ``$batchNo`` replaced by the call's batchNo: a hostile answer to a
real batch), ``hold`` (like ``replace`` for every fetch that opens or refetches the batch, until that
feed's batch is confirmed: Specter holding a batch open, a new batch number answered with 99), ``ack`` (answer success, nothing processed: a confirm Specter acknowledges but never does)
and ``drip`` (process, then send the answer one byte every ``seconds``).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

MODES = ("fail", "slow", "after", "body", "drop", "replace", "hold", "ack", "drip")

ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>{status} - Internal server error.</title></head>"
    "<body><h1>Server Error</h1><h2>{status} - Internal server error.</h2>"
    "<p>There is a problem with the resource you are looking for, and it cannot be displayed.</p>"
    "</body></html>"
)


@dataclass
class Fault:
    action: str
    mode: str
    count: int = 1
    status: int = 500
    seconds: float = 0.0
    body: str = ""
    body_encoding: str = "iso-8859-1"

    def matches(self, action: str) -> bool:
        return self.count > 0 and (self.action == "*" or self.action.lower() == (action or "").lower())


class Faults:
    """A thread-safe list of armed faults, consumed one call at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, spec: dict[str, Any]) -> Fault:
        mode = spec.get("mode", "fail")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if not spec.get("action"):
            raise ValueError("action is required (a Specter action name or '*')")
        fault = Fault(
            action=str(spec["action"]),
            mode=mode,
            count=int(spec.get("count", 1)),
            status=int(spec.get("status", 200 if mode in ("body", "replace", "hold", "ack", "drip") else 500)),
            seconds=float(spec.get("seconds", 0)),
            body=str(spec.get("body", "")),
            body_encoding=str(spec.get("body_encoding") or spec.get("bodyEncoding") or "iso-8859-1"),
        )
        "".encode(fault.body_encoding)  # an unknown codec is refused now, not at the next call
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, action: str) -> Fault | None:
        """The first armed fault for ``action``, with one use consumed (a ``hold`` lasts until ``release``)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(action):
                    if fault.mode == "hold":
                        return fault
                    fault.count -= 1
                    self._faults = [f for f in self._faults if f.count > 0]
                    return fault
        return None

    def release(self, action: str) -> None:
        """End the ``hold`` faults on ``action`` (its feed's batch was confirmed)."""
        with self._lock:
            self._faults = [f for f in self._faults if not (f.mode == "hold" and f.matches(action))]

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]
