"""``SQLAlchemyShopAdapter.validate``: its options checked against the models when ``init_app`` runs,
so a misspelled field name stops the app at start-up instead of sending empty fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .computed import Computed, FieldSpec, path_of
from .fk_paths import resolve_hop
from .paths import mapper_of, path_problem


def parent_problem(product_model: type[Any], parent: str) -> tuple[type[Any] | None, str | None]:
    """(the parent's class, None), or (None, why ``parent`` is neither a many-to-one relationship of the
    model nor a foreign-key id column of its table)."""
    mapper = mapper_of(product_model)
    if mapper is None:
        return None, None
    rel = mapper.relationships.get(parent)
    name = product_model.__name__
    if rel is None:
        hop = resolve_hop(product_model, parent)
        if hop is not None and hop.kind == "fk":
            return hop.target, None
        return None, f"parent = {parent!r}: {name} has no relationship or foreign-key column {parent!r}"
    if rel.uselist:
        return None, f"parent = {parent!r}: {name}.{parent} is a collection, not the one parent of a variant"
    parent_class: type[Any] = rel.mapper.class_
    return parent_class, None


def config_problems(
    *,
    product_model: type[Any],
    product_fields: Mapping[str, FieldSpec],
    given: Mapping[str, Mapping[str, FieldSpec]],
    known: Mapping[str, tuple[str, ...]],
    models: Mapping[str, type[Any] | None],
    parent: str | None,
    variant_name: str,
) -> list[str]:
    """What is wrong with the options, each naming the option, the field, the model and the attribute.

    ``given``: option name ("product_fields", ...) -> what the shop passed; ``known``: the keys each
    map takes; ``models``: the class each map's paths start from (None: not checked). The defaults are
    not required to exist (a model without ``barcode`` sends none), but ``sku`` and ``stock`` are. A
    ``Computed`` value's ``reads`` are checked like paths.
    """
    problems: list[str] = []
    if mapper_of(product_model) is None:
        problems.append(f"product_model {product_model!r} is not a mapped SQLAlchemy class")
    models = dict(models)
    if parent is not None:
        models["parent_fields"], problem = parent_problem(product_model, parent)
        if problem:
            problems.append(problem)
        try:
            variant_name.format(parent="P", variant="V")
        except (KeyError, IndexError, ValueError) as exc:
            problems.append(f"variant_name {variant_name!r}: only {{parent}} and {{variant}} can be used ({exc!r})")
    elif given.get("parent_fields"):
        problems.append("parent_fields is given but parent is not: name the relationship to the parent product")
    for option, fields in given.items():
        model = models.get(option)
        for key, path in fields.items():
            if key not in known[option]:
                problems.append(f"{option}: {key!r} is not a field (known: {', '.join(known[option])})")
            elif isinstance(path, Computed) and model is not None:
                for read in path.reads:
                    problem = path_problem(model, read)
                    if problem:
                        problems.append(f"{option}[{key!r}] = {path!r}: reads {read!r}: {problem}")
            elif isinstance(path, str) and model is not None:
                problem = path_problem(model, path)
                if problem:
                    problems.append(f"{option}[{key!r}] = {path!r}: {problem}")
    table = getattr(product_model, "__table__", None)
    for key in ("sku", "stock"):
        spec = product_fields.get(key)
        attr = path_of(spec)
        if not attr or "." in attr:
            problems.append(f"product_fields[{key!r}] = {spec!r}: must be a column of {product_model.__name__}'s own table")
        elif table is not None and attr not in table.c:
            problems.append(f"product_fields[{key!r}] = {attr!r}: {product_model.__name__} has no column {attr!r}")
    return problems


__all__ = ["config_problems", "parent_problem"]
