"""The hops of an attribute path that need more than ``getattr``: a foreign-key id column followed to the
row it points at, a collection narrowed to one row, and rows that point at an object by id only.

A shop written without ``relationship()`` keeps ``user_id`` on its orders and ``product_id`` on its
variants; its addresses point at their user by ``user_id`` and the user has no attribute for them. A
path may go through each of these (``"user_id.email"``, ``"Address[user_id].street"``); the target class
is found through the column's ``ForeignKey`` in the model's mapper registry.

A hop that leads to several rows (a one-to-many relationship, or ``Class[fk]``) picks one: among the rows
whose default flag is true, else among all, the latest by primary key. The flag is ``default_flag`` when
the adapter names one, else the first of ``DEFAULT_FLAGS`` that the row's class has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import inspect, select
from sqlalchemy.orm import Mapper, object_session

DEFAULT_FLAGS = ("is_default", "default", "is_primary", "primary")
ROWS_SEGMENT = re.compile(r"^(\w+)\[(\w+)\]$")  # "Address[user_id]": the Address rows whose user_id is this one's


@dataclass(frozen=True)
class Hop:
    """One hop of a path from ``source`` to ``target``.

    ``kind``: "relation" (a many-to-one or one-to-one relationship ``attr``), "collection" (a one-to-many
    relationship ``attr``), "fk" (the id column ``attr`` pointing at ``target.key``), "rows" (the
    ``target`` rows whose ``attr`` points at ``source.key``).
    """

    source: type[Any]
    kind: Literal["relation", "collection", "fk", "rows"]
    target: type[Any]
    attr: str
    key: str = ""

    @property
    def many(self) -> bool:
        return self.kind in ("collection", "rows")


def _mapper(cls: type[Any]) -> Mapper[Any] | None:
    mapper: Mapper[Any] | None = inspect(cls, raiseerr=False)
    return mapper


def _attr_of(mapper: Mapper[Any], column: Any) -> str | None:
    try:
        return str(mapper.get_property_by_column(column).key)
    except Exception:
        return None


def _mapper_of_table(mapper: Mapper[Any], table: Any) -> Mapper[Any] | None:
    found = [m for m in mapper.registry.mappers if m.local_table is table]
    found.sort(key=lambda m: m.inherits is not None)  # the base class of an inheritance tree first
    return found[0] if found else None


_HOPS: dict[tuple[type[Any], str], Hop | None] = {}


def resolve_hop(source: type[Any], segment: str) -> Hop | None:
    """How ``segment`` leads on from ``source``, or None when it does not (a plain attribute, or nothing);
    worked out once per class and segment."""
    key = (source, segment)
    if key not in _HOPS:
        _HOPS[key] = _resolve(source, segment)
    return _HOPS[key]


def _resolve(source: type[Any], segment: str) -> Hop | None:
    mapper = _mapper(source)
    if mapper is None:
        return None
    rows = ROWS_SEGMENT.match(segment)
    if rows:
        return _rows_hop(mapper, source, rows.group(1), rows.group(2))
    rel = mapper.relationships.get(segment)
    if rel is not None:
        return Hop(source, "collection" if rel.uselist else "relation", rel.mapper.class_, segment)
    prop = mapper.column_attrs.get(segment)
    if prop is None or len(prop.columns) != 1:
        return None
    keys = list(prop.columns[0].foreign_keys)
    if len(keys) != 1:
        return None
    target_column = keys[0].column
    target = _mapper_of_table(mapper, target_column.table)
    key = _attr_of(target, target_column) if target is not None else None
    if target is None or key is None:
        return None
    return Hop(source, "fk", target.class_, segment, key)


def _rows_hop(mapper: Mapper[Any], source: type[Any], class_name: str, fk: str) -> Hop | None:
    target = next((m for m in mapper.registry.mappers if m.class_.__name__ == class_name), None)
    prop = target.column_attrs.get(fk) if target is not None else None
    if target is None or prop is None:
        return None
    for foreign in prop.columns[0].foreign_keys:
        if foreign.column.table is mapper.local_table:
            key = _attr_of(mapper, foreign.column)
            if key is not None:
                return Hop(source, "rows", target.class_, fk, key)
    return None


def rows_problem(source: type[Any], segment: str) -> str | None:
    """Why a ``Class[fk]`` segment leads nowhere, or None when it is no such segment or it does."""
    rows = ROWS_SEGMENT.match(segment)
    if rows is None or resolve_hop(source, segment) is not None:
        return None
    mapper = _mapper(source)
    class_name, fk = rows.groups()
    if mapper is None or not any(m.class_.__name__ == class_name for m in mapper.registry.mappers):
        return f"{segment!r}: no mapped class {class_name!r} next to {source.__name__}"
    return f"{segment!r}: {class_name}.{fk} is no foreign key to {source.__name__}'s table"


def flag_of(cls: type[Any], default_flag: str | None) -> str | None:
    """The attribute that marks ``cls``'s default row: ``default_flag``, else the first of
    ``DEFAULT_FLAGS`` the class has; None when it has none."""
    mapper = _mapper(cls)
    names = (default_flag,) if default_flag else DEFAULT_FLAGS
    for name in names:
        if mapper is not None and name in mapper.all_orm_descriptors:
            return name
    return None


def _primary_key(cls: type[Any]) -> str | None:
    mapper = _mapper(cls)
    if mapper is None or not mapper.primary_key:
        return None
    return _attr_of(mapper, mapper.primary_key[0])


def pick(rows: Iterable[Any], cls: type[Any], default_flag: str | None) -> Any | None:
    """The one row of several: the latest by primary key among those flagged default, else among all."""
    found = [row for row in rows if row is not None]
    if not found:
        return None
    flag = flag_of(cls, default_flag)
    flagged = [row for row in found if flag and getattr(row, flag, None)]
    pk = _primary_key(cls)
    candidates = flagged or found
    if pk is None:
        return candidates[-1]
    return max(candidates, key=lambda row: (getattr(row, pk, None) is not None, getattr(row, pk, None) or 0))


def follow(obj: Any, segment: str, default_flag: str | None = None) -> Any | None:
    """The object ``segment`` leads to from ``obj`` (a plain ``getattr`` when it is no special hop);
    None when there is none, or when a row must be read and ``obj`` belongs to no session."""
    hop = resolve_hop(type(obj), segment)
    if hop is None or hop.kind == "relation":
        return getattr(obj, segment, None)
    if hop.kind == "collection":
        return pick(getattr(obj, segment, None) or (), hop.target, default_flag)
    session = object_session(obj)
    if hop.kind == "fk":
        value = getattr(obj, hop.attr, None)
        if value is None or session is None:
            return None
        with session.no_autoflush:
            if hop.key == _primary_key(hop.target):
                return session.get(hop.target, value)
            return session.execute(select(hop.target).where(getattr(hop.target, hop.key) == value)).scalars().first()
    value = getattr(obj, hop.key, None)
    if value is None or session is None:
        return None
    with session.no_autoflush:
        found = session.execute(select(hop.target).where(getattr(hop.target, hop.attr) == value)).scalars().all()
    return pick(found, hop.target, default_flag)


def owners_back(hop: Hop, objs: list[Any], session: Any) -> list[Any]:
    """The ``hop.source`` rows that reach any of ``objs`` (``hop.target`` rows) through ``hop``."""
    source, target = hop.source, hop.target
    if hop.kind in ("relation", "collection"):
        pk = _primary_key(target)
        keys = [value for obj in objs if pk and (value := getattr(obj, pk, None)) is not None]
        relation = getattr(source, hop.attr)
        test = relation.any if hop.kind == "collection" else relation.has
        criterion = test(getattr(target, pk).in_(keys)) if keys and pk else None
    elif hop.kind == "fk":
        keys = [value for obj in objs if (value := getattr(obj, hop.key, None)) is not None]
        criterion = getattr(source, hop.attr).in_(keys) if keys else None
    else:
        keys = [value for obj in objs if (value := getattr(obj, hop.attr, None)) is not None]
        criterion = getattr(source, hop.key).in_(keys) if keys else None
    if criterion is None:
        return []
    with session.no_autoflush:
        found: list[Any] = list(session.execute(select(source).where(criterion)).scalars().all())
    return found


__all__ = ["Hop", "DEFAULT_FLAGS", "resolve_hop", "rows_problem", "flag_of", "pick", "follow", "owners_back"]
