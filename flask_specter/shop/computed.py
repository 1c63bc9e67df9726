"""Field-map values computed by the host: ``Computed(fn, reads=(...))`` or a plain callable.

A field map value is usually an attribute path ("title", "default_address.city"). A shop whose value is
not stored as such (a variant price of 0 meaning "the parent's price", a name built from two columns)
gives a function of the object instead. ``reads`` names the attribute paths the function reads, so a
change to any of them sends the record to Specter again, as a change to a mapped attribute does. A
computed value is read-only: nothing from Specter is written to it (the article import skips it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .paths import read_path, write_path


class Computed:
    """A field map value computed from the object: ``Computed(fn, reads=("price", "parent.price"))``.

    ``fn(obj)`` returns the value (None reads as the field's empty value). ``reads``: the attribute
    paths ``fn`` depends on, each like a field map path (checked against the models at ``init_app``);
    a change to one of them updates the product or customer in Specter. Read-only: the article import
    does not write a computed field.
    """

    __slots__ = ("fn", "reads")

    def __init__(self, fn: Callable[[Any], Any], reads: Iterable[str] = ()) -> None:
        if not callable(fn):
            raise TypeError(f"Computed needs a function of the object, got {fn!r}")
        if isinstance(reads, str):
            reads = (reads,)
        self.fn = fn
        self.reads: tuple[str, ...] = tuple(reads)

    def __call__(self, obj: Any) -> Any:
        return self.fn(obj)

    def __repr__(self) -> str:
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        return f"Computed({name}, reads={self.reads!r})"


# What a field map holds once the adapter has read its options: a path, a computed value or nothing.
FieldSpec = str | Computed | None


def as_spec(value: Any) -> FieldSpec:
    """A field map value as given -> a path, a ``Computed`` (a plain callable watches nothing), or None."""
    if value is None or isinstance(value, (str, Computed)):
        return value
    if callable(value):
        return Computed(value)
    raise TypeError(f"a field map value is an attribute path, a callable or flask_specter.Computed, not {value!r}")


def specs(mapping: Mapping[str, Any] | None) -> dict[str, FieldSpec]:
    return {key: as_spec(value) for key, value in (mapping or {}).items()}


def path_of(spec: FieldSpec) -> str | None:
    """The attribute path of a plain mapping, None for a computed value or nothing."""
    return spec if isinstance(spec, str) else None


def read_value(obj: Any, spec: FieldSpec, default: Any = None, default_flag: str | None = None) -> Any:
    """The value ``spec`` gives for ``obj``: the attribute at its path or what its function returns
    (``default`` for None); ``default_flag`` picks among several rows on the way (``read_path``)."""
    if isinstance(spec, Computed):
        value = spec(obj)
        return default if value is None else value
    return read_path(obj, spec, default, default_flag)


def write_value(obj: Any, spec: FieldSpec, value: Any, default_flag: str | None = None) -> None:
    """Write ``value`` at the path; a computed value is read-only and is left alone."""
    if isinstance(spec, str):
        write_path(obj, spec, value, default_flag)


def watched_paths(spec: FieldSpec) -> tuple[str, ...]:
    """The attribute paths whose change changes this field: its path, or a computed value's ``reads``."""
    if isinstance(spec, Computed):
        return spec.reads
    return (spec,) if spec else ()


__all__ = ["Computed", "FieldSpec", "as_spec", "specs", "path_of", "read_value", "write_value", "watched_paths"]
