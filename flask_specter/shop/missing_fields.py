"""The default field names a host's models lack, listed once when ``init_app`` checks the adapter.

A default name (``barcode``, ``weight``, ``tracking_no``, ...) that the model lacks is no error: the
field reads empty and Specter's value for it is not stored. But it is said, in one warning line, so that
a price or a name sent empty because the column is called something else is seen at start-up, not in
Specter. Mapping the field to None ("my model has none") silences it for that field. A default that
something else the host gave reads instead is not listed (``options_check``: a variant's field its
parent gives, first and last name split from one ``name``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .computed import FieldSpec
from .paths import path_problem

log = logging.getLogger("flask_specter")


def missing_defaults(
    fields: Mapping[str, Mapping[str, FieldSpec]],
    given: Mapping[str, Mapping[str, FieldSpec]],
    models: Mapping[str, type[Any] | None],
) -> list[str]:
    """``option['key'] (Model.attribute)`` for each default path (a key the host did not give) that
    its model cannot read. ``fields``: option name -> the map in use; ``models``: where it starts."""
    found: list[str] = []
    for option, mapping in fields.items():
        model = models.get(option)
        if model is None:
            continue
        for key, spec in mapping.items():
            if key in given.get(option, {}) or not isinstance(spec, str):
                continue
            if path_problem(model, spec) is not None:
                found.append(f"{option}[{key!r}] ({model.__name__}.{spec})")
    return found


def warn_missing_defaults(
    fields: Mapping[str, Mapping[str, FieldSpec]],
    given: Mapping[str, Mapping[str, FieldSpec]],
    models: Mapping[str, type[Any] | None],
) -> list[str]:
    """Log the missing default fields in one warning line; returns them."""
    found = missing_defaults(fields, given, models)
    if found:
        log.warning(
            "SQLAlchemyShopAdapter: these default fields are not on your models, so they read empty and "
            "nothing is written to them (map a field to None to say your model has none): %s",
            ", ".join(found),
        )
    return found


__all__ = ["missing_defaults", "warn_missing_defaults"]
