"""Attribute paths of ``SQLAlchemyShopAdapter``'s field maps: "title" or, through many-to-one and
one-to-one relationships, "default_address.postcode". Reading, writing, checking a path against the
models, and the ``Dependency`` records that make a change of a related object update its owners.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from sqlalchemy import ColumnElement, inspect, select
from sqlalchemy.orm import Mapper

from .adapter import Dependency


def read_path(obj: Any, path: str | None, default: Any = None) -> Any:
    """The value at ``path`` on ``obj``; ``default`` when the path is None, an attribute is missing or a
    related object on the way is None."""
    if not path:
        return default
    *hops, last = path.split(".")
    for hop in hops:
        obj = getattr(obj, hop, None)
        if obj is None:
            return default
    return getattr(obj, last, default)


def write_path(obj: Any, path: str | None, value: Any) -> None:
    """Set the attribute at ``path`` on ``obj``; nothing when the path is None, the attribute is not
    the model's, or a related object on the way is None."""
    if not path:
        return
    *hops, last = path.split(".")
    for hop in hops:
        obj = getattr(obj, hop, None)
        if obj is None:
            return
    if hasattr(type(obj), last):
        setattr(obj, last, value)


def mapper_of(model: type[Any]) -> Mapper[Any] | None:
    """The SQLAlchemy mapper of ``model``, or None for a class that is not mapped."""
    mapper: Mapper[Any] | None = inspect(model, raiseerr=False)
    return mapper


def related_class(model: type[Any], name: str) -> type[Any] | None:
    """Where the relationship ``name`` of ``model`` leads, or None when it is none."""
    mapper = mapper_of(model)
    rel = mapper.relationships.get(name) if mapper is not None else None
    target: type[Any] | None = rel.mapper.class_ if rel is not None else None
    return target


def walk(model: type[Any], path: str) -> list[tuple[type[Any], str]]:
    """[(class, attribute)] for each hop of ``path`` from ``model``; stops where no relationship goes on."""
    hops: list[tuple[type[Any], str]] = []
    cls: type[Any] | None = model
    for name in path.split("."):
        if cls is None:
            break
        hops.append((cls, name))
        cls = related_class(cls, name)
    return hops


def path_problem(model: type[Any], path: str) -> str | None:
    """Why ``path`` cannot be read from ``model``, naming the class and the attribute; None when it can."""
    cls = model
    *hops, last = path.split(".")
    for hop in hops:
        mapper = mapper_of(cls)
        rel = mapper.relationships.get(hop) if mapper is not None else None
        if rel is None:
            what = "is not a relationship" if hasattr(cls, hop) else "does not exist"
            return f"{cls.__name__} has no relationship {hop!r} ({cls.__name__}.{hop} {what})"
        if rel.uselist:
            return f"{cls.__name__}.{hop} is a collection: a path goes through many-to-one or one-to-one relationships only"
        cls = rel.mapper.class_
    mapper = mapper_of(cls)
    if (mapper is not None and last in mapper.all_orm_descriptors) or hasattr(cls, last):
        return None
    return f"{cls.__name__} has no attribute {last!r}"


def path_dependencies(kind: Literal["product", "customer"], model: type[Any], paths: Iterable[str], session: Callable[[], Any]) -> list[Dependency]:
    """One ``Dependency`` per (class, way from ``model``) on ``paths``, with the attributes read there.

    For "parent.title": the product's ``parent`` (another parent chosen) and the parent's ``title``
    (its owners: the products whose ``parent`` is it). ``session()`` gives the session the owners are
    looked up in.
    """
    groups: dict[tuple[type[Any], tuple[str, ...]], list[str]] = {}
    for path in paths:
        hops = walk(model, path)
        for i, (cls, name) in enumerate(hops):
            attrs = groups.setdefault((cls, tuple(n for _c, n in hops[:i])), [])
            if name not in attrs:
                attrs.append(name)
    return [Dependency(kind, cls, tuple(attrs), _owners(model, way, session)) for (cls, way), attrs in groups.items()]


def _owners(model: type[Any], way: tuple[str, ...], session: Callable[[], Any]) -> Callable[[Any], Iterable[Any]]:
    """obj -> the ``model`` rows that reach ``obj`` along the relationships ``way`` (obj itself when empty)."""
    if not way:
        return lambda obj: (obj,)
    classes = [cls for cls, _name in walk(model, ".".join(way))]

    def owners(obj: Any) -> Iterable[Any]:
        if inspect(obj).identity is None:  # not in the database yet: the owner's own change covers it
            return ()
        criterion: ColumnElement[bool] = getattr(classes[-1], way[-1]) == obj
        for cls, name in zip(reversed(classes[:-1]), reversed(way[:-1]), strict=True):
            criterion = getattr(cls, name).has(criterion)
        db_session = session()
        with db_session.no_autoflush:
            found: list[Any] = db_session.execute(select(model).where(criterion)).scalars().all()
        return found

    return owners


__all__ = ["read_path", "write_path", "mapper_of", "related_class", "walk", "path_problem", "path_dependencies"]
