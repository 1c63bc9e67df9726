"""Attribute paths of ``SQLAlchemyShopAdapter``'s field maps: "title" or, through relationships, foreign-key
id columns and collections (``fk_paths``), "default_address.postcode", "user_id.email",
"Address[user_id].street". Reading, writing, checking a path against the models, and the ``Dependency``
records that make a change of a related object (or a new one) update its owners.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from sqlalchemy import inspect
from sqlalchemy.orm import Mapper

from .adapter import Dependency
from .fk_paths import Hop, flag_of, follow, owners_back, resolve_hop, rows_problem


def read_path(obj: Any, path: str | None, default: Any = None, default_flag: str | None = None) -> Any:
    """The value at ``path`` on ``obj``; ``default`` when the path is None, an attribute is missing or a
    related object on the way is None. ``default_flag``: see ``fk_paths`` (a collection's one row)."""
    if not path:
        return default
    *hops, last = path.split(".")
    for hop in hops:
        obj = follow(obj, hop, default_flag)
        if obj is None:
            return default
    return getattr(obj, last, default)


def write_path(obj: Any, path: str | None, value: Any, default_flag: str | None = None) -> None:
    """Set the attribute at ``path`` on ``obj``; nothing when the path is None, the attribute is not
    the model's, or a related object on the way is None."""
    if not path:
        return
    *hops, last = path.split(".")
    for hop in hops:
        obj = follow(obj, hop, default_flag)
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


def hops_of(model: type[Any], path: str) -> list[Hop]:
    """The hops of ``path``'s leading segments from ``model``; stops where none leads on."""
    hops: list[Hop] = []
    cls = model
    for segment in path.split(".")[:-1]:
        hop = resolve_hop(cls, segment) if mapper_of(cls) is not None else None
        if hop is None:
            break
        hops.append(hop)
        cls = hop.target
    return hops


def path_problem(model: type[Any], path: str) -> str | None:
    """Why ``path`` cannot be read from ``model``, naming the class and the attribute; None when it can."""
    cls = model
    *segments, last = path.split(".")
    for segment in segments:
        hop = resolve_hop(cls, segment) if mapper_of(cls) is not None else None
        if hop is None:
            problem = rows_problem(cls, segment)
            if problem:
                return problem
            what = "is neither a relationship nor a foreign-key column" if hasattr(cls, segment) else "does not exist"
            return f"{cls.__name__} has no relationship {segment!r} ({cls.__name__}.{segment} {what})"
        cls = hop.target
    mapper = mapper_of(cls)
    if (mapper is not None and last in mapper.all_orm_descriptors) or hasattr(cls, last):
        return None
    return f"{cls.__name__} has no attribute {last!r}"


def path_dependencies(
    kind: Literal["product", "customer"], model: type[Any], paths: Iterable[str], session: Callable[[], Any], default_flag: str | None = None
) -> list[Dependency]:
    """One ``Dependency`` per (class, way from ``model``) on ``paths``, with the attributes read there.

    For "parent.title": the product's ``parent`` (another parent chosen) and the parent's ``title``
    (its owners: the products whose ``parent`` is it). Through a foreign-key id the id column itself is
    watched; on rows reached through a collection, their link to the owner and their default flag too
    (another row becomes the one read). ``session()`` gives the session the owners are looked up in.
    """
    groups: dict[tuple[type[Any], tuple[Hop, ...]], list[str]] = {}

    def watch(cls: type[Any], way: tuple[Hop, ...], *attrs: str | None) -> None:
        found = groups.setdefault((cls, way), [])
        found.extend(a for a in attrs if a and a not in found)

    for path in paths:
        hops = hops_of(model, path)
        segments = path.split(".")
        cls, way = model, tuple[Hop, ...]()
        for hop in hops:
            watch(cls, way, None if hop.kind == "rows" else hop.attr)
            way = (*way, hop)
            cls = hop.target
            flag = flag_of(cls, default_flag) if hop.many else None
            watch(cls, way, hop.attr if hop.kind == "rows" else None, flag)
        if len(hops) == len(segments) - 1:
            watch(cls, way, segments[-1])
        else:  # a hop that leads nowhere (a misspelling validate names): what it reads is watched
            watch(cls, way, segments[len(hops)])
    return [Dependency(kind, cls, tuple(attrs), _owners(way, session)) for (cls, way), attrs in groups.items()]


def _owners(way: tuple[Hop, ...], session: Callable[[], Any]) -> Callable[[Any], Iterable[Any]]:
    """obj -> the rows that reach ``obj`` along ``way`` (obj itself when the way is empty)."""
    if not way:
        return lambda obj: (obj,)

    def owners(obj: Any) -> Iterable[Any]:
        db_session = session()
        found = [obj]
        for hop in reversed(way):
            found = owners_back(hop, found, db_session)
            if not found:
                break
        return found

    return owners


__all__ = ["read_path", "write_path", "mapper_of", "related_class", "hops_of", "path_problem", "path_dependencies"]
