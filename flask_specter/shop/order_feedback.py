"""What ``SQLAlchemyShopAdapter`` writes on an order and reads back from it about Specter: the status
news map, Specter's order number and the transfer error, tracking and invoice (the order's side of the
feeds back from Specter)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .computed import FieldSpec, path_of
from .values import text_or_none


class OrderFeedback:
    """``order_status``, ``set_order_transfer``, ``apply_order_change`` and their readers."""

    order_model: type[Any] | None
    order_fields: dict[str, FieldSpec]
    order_status_map: dict[str, Any]
    _status_fn: Callable[[str], Any] | None

    if TYPE_CHECKING:  # provided by SQLAlchemyShopAdapter

        def _get(self, obj: Any, mapping: Mapping[str, FieldSpec], name: str, default: Any = None) -> Any: ...

        @staticmethod
        def _set(obj: Any, mapping: Mapping[str, FieldSpec], name: str, value: Any) -> None: ...

    def order_status(self, status: str) -> Any | None:
        if self._status_fn is not None:
            return self._status_fn(status)
        return self.order_status_map.get(status)

    def order_specter_no(self, order: Any) -> str | None:
        return text_or_none(self._get(order, self.order_fields, "specter_order_no"))

    def order_transfer_error(self, order: Any) -> str | None:
        return text_or_none(self._get(order, self.order_fields, "transfer_error"))

    def order_field_length(self, field: str) -> int | None:
        attr = path_of(self.order_fields.get(field))
        table = getattr(self.order_model, "__table__", None)
        if table is None or not attr or attr not in table.c:
            return None
        length: int | None = getattr(table.c[attr].type, "length", None)
        return length

    def set_order_transfer(self, order: Any, *, specter_order_no: str | None, error: str | None) -> None:
        self._set(order, self.order_fields, "specter_order_no", specter_order_no)
        self._set(order, self.order_fields, "transfer_error", error)

    def apply_order_change(self, order: Any, *, status: Any | None = None, tracking_no: str | None = None, invoice_id: str | None = None) -> None:
        if status is not None and status != "":
            self._set(order, self.order_fields, "status", status)
        if tracking_no:
            self._set(order, self.order_fields, "tracking_no", tracking_no)
        if invoice_id:
            self._set(order, self.order_fields, "invoice_id", invoice_id)



__all__ = ["OrderFeedback"]
