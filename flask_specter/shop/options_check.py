"""SQLAlchemyShopAdapter's options checked against the models at ``init_app``, and what the listeners must
watch besides the models themselves (parents of variants, related addresses)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..remote.errors import SpecterConfigError
from .adapter import ARTICLE_FIELDS, Dependency
from .computed import Computed, FieldSpec, path_of, watched_paths
from .fields import (
    CUSTOMER_FIELDS,
    CUSTOMER_TEXT,
    DELIVERY_FIELDS,
    LINE_FIELDS,
    OPTIONAL_CUSTOMER_FIELDS,
    OPTIONAL_ORDER_FIELDS,
    OPTIONAL_PRODUCT_FIELDS,
    ORDER_FIELDS,
    PARENT_FIELD_NAMES,
    PRODUCT_FIELDS,
)
from .missing_fields import warn_missing_defaults
from .names import warn_missing_names
from .order_rules import line_order_attr
from .paths import mapper_of, path_dependencies, path_problem, related_class
from .validation import config_problems, parent_problem


class OptionsCheck:
    """``validate`` and ``dependencies`` of ``SQLAlchemyShopAdapter``."""

    db: Any
    product_model: type[Any] | None
    customer_model: type[Any] | None
    order_model: type[Any] | None
    line_model: type[Any] | None
    product_fields: dict[str, FieldSpec]
    customer_fields: dict[str, FieldSpec]
    order_fields: dict[str, FieldSpec]
    line_fields: dict[str, FieldSpec]
    parent_fields: dict[str, FieldSpec]
    parent: str | None
    variant_name: str
    guest_customer_fields: dict[str, FieldSpec]
    default_flag: str | None
    _given: dict[str, Any]
    _dependencies: tuple[Dependency, ...] | None

    if TYPE_CHECKING:  # provided by SQLAlchemyShopAdapter

        def _products(self) -> type[Any]: ...

    def _line_class(self) -> type[Any] | None:
        """The order line class: ``line_model`` when given, else where the ``lines`` relationship leads."""
        if self.line_model is not None or self.order_model is None:
            return self.line_model
        lines = path_of(self.order_fields.get("lines"))
        return related_class(self.order_model, lines) if lines else None

    def validate(self) -> None:
        """Check every option against the models; raise ``SpecterConfigError`` listing what is wrong.

        Checked: the keys of every field map (a misspelled key), every attribute path the shop gave
        Checked: the keys of every field map (a misspelled key), every attribute path the shop gave
        (each hop a relationship, a foreign-key id column or ``Class[fk]``, the last an attribute of
        the class it reaches), ``sku`` and ``stock`` (plain columns of the product table), ``parent``
        (a many-to-one relationship or a foreign-key id column of ``product_model``), the
        ``parent_fields`` given and ``variant_name``. The default names are not required to exist: a
        model without ``barcode`` simply sends none, a parent class without ``active`` reads none, and
        the defaults a model lacks are listed in one logged warning. Logged, not raised either: a
        customer map (or guest map) that reads no name Specter can use.
        """
        models = {"product_fields": self.product_model, "customer_fields": self.customer_model,
                  "order_fields": self.order_model, "guest_customer_fields": self.order_model,
                  "line_fields": self._line_class()}
        problems = config_problems(
            product_model=self._products(),
            product_fields=self.product_fields,
            given=self._given,
            known={
                "product_fields": (*PRODUCT_FIELDS, *OPTIONAL_PRODUCT_FIELDS),
                "customer_fields": (*CUSTOMER_FIELDS, *OPTIONAL_CUSTOMER_FIELDS),
                "guest_customer_fields": (*CUSTOMER_TEXT, *OPTIONAL_CUSTOMER_FIELDS),
                "order_fields": (*ORDER_FIELDS, *DELIVERY_FIELDS, *OPTIONAL_ORDER_FIELDS),
                "line_fields": tuple(LINE_FIELDS),
                "parent_fields": PARENT_FIELD_NAMES,
            },
            models=models,
            parent=self.parent,
            variant_name=self.variant_name,
        )
        if self.line_model is not None:
            if self.order_model is None:
                problems.append("line_model is given but order_model is not")
            elif mapper_of(self.line_model) is None:
                problems.append(f"line_model {self.line_model!r} is not a mapped SQLAlchemy class")
            else:
                try:
                    line_order_attr(self.order_model, self.line_model, path_of(self.order_fields.get("lines")))
                except SpecterConfigError as exc:
                    problems.append(str(exc).removeprefix("SQLAlchemyShopAdapter: "))
        if self.guest_customer_fields and self.order_model is None:
            problems.append("guest_customer_fields is given but order_model is not")
        if problems:
            raise SpecterConfigError("SQLAlchemyShopAdapter: " + "; ".join(problems))
        maps = {"product_fields": self.product_fields, "customer_fields": self.customer_fields,
                "order_fields": self.order_fields, "line_fields": self.line_fields}
        warn_missing_defaults(maps, self._covered(), models)
        warn_missing_names("customer_fields", self.customer_fields, self.customer_model, _readable)
        if self.guest_customer_fields:
            warn_missing_names("guest_customer_fields", self.guest_customer_fields, self.order_model, _readable)

    def _covered(self) -> dict[str, dict[str, FieldSpec]]:
        """The fields the host gave, and the defaults something else it gave reads instead: a variant's
        field its parent gives (``parent_fields``), first and last name split from one ``name``."""
        covered = {option: dict(fields) for option, fields in self._given.items()}
        parent_class = parent_problem(self._products(), self.parent)[0] if self.parent else None
        if parent_class is not None:
            for key, spec in self.parent_fields.items():
                if key in self.product_fields and (not isinstance(spec, str) or path_problem(parent_class, spec) is None):
                    covered["product_fields"].setdefault(key, spec)
        if self._given["customer_fields"].get("name") is not None:
            covered["customer_fields"].update({k: None for k in ("first_name", "last_name") if k not in covered["customer_fields"]})
        return covered

    def dependencies(self) -> tuple[Dependency, ...]:
        """Products: the parent fields of variants, dotted product paths and what ``Computed`` values
        read; customers: dotted paths and what ``Computed`` values read through relationships (a
        change to any column of the customer itself sends it anyway)."""
        if self._dependencies is None:
            found: list[Dependency] = []
            if self.product_model is not None:
                paths = _watched(self.product_fields, ARTICLE_FIELDS, own=True)
                if self.parent:
                    paths += [f"{self.parent}.{p}" for f in ARTICLE_FIELDS for p in watched_paths(self.parent_fields.get(f))]
                found += path_dependencies("product", self.product_model, paths, lambda: self.db.session, self.default_flag)
            if self.customer_model is not None:
                paths = _watched(self.customer_fields, (*CUSTOMER_TEXT, "name"), own=False)
                found += path_dependencies("customer", self.customer_model, paths, lambda: self.db.session, self.default_flag)
            self._dependencies = tuple(found)
        return self._dependencies


def _watched(fields: dict[str, FieldSpec], names: tuple[str, ...], *, own: bool) -> list[str]:
    """The paths of ``names`` the plain watch of the model's own attributes misses: dotted paths, and
    what ``Computed`` values read (their own-attribute reads too when ``own``)."""
    paths: list[str] = []
    for name in names:
        spec = fields.get(name)
        for path in watched_paths(spec):
            if ("." in path or (own and isinstance(spec, Computed))) and path not in paths:
                paths.append(path)
    return paths


def _readable(model: type[Any], path: str) -> bool:
    return mapper_of(model) is None or path_problem(model, path) is None
