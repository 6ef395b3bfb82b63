"""Region codes (Kemendagri): province ``33``, regency ``33.28``, district ``33.28.02``, village
``33.28.02.2001``. Input may come dotted or undotted; everything stored and returned is dotted."""

from __future__ import annotations

import re
from enum import StrEnum

from service.errors import FieldError, ValidationFailed


class RegionLevel(StrEnum):
    province = "province"
    regency = "regency"
    district = "district"
    village = "village"


_DOTTED = re.compile(r"^[0-9]{2}(\.[0-9]{2}(\.[0-9]{2}(\.[0-9]{4})?)?)?$")
_UNDOTTED_LENGTHS = {2: (2,), 4: (2, 2), 6: (2, 2, 2), 10: (2, 2, 2, 4)}
_LEVEL_BY_PARTS = {
    1: RegionLevel.province,
    2: RegionLevel.regency,
    3: RegionLevel.district,
    4: RegionLevel.village,
}


def parse_region_code(raw: str) -> str | None:
    """The dotted form of ``raw``, or ``None`` when it is not shaped like a region code."""
    code = raw.strip()
    if _DOTTED.match(code):
        return code
    if code.isascii() and code.isdigit() and len(code) in _UNDOTTED_LENGTHS:
        parts, start = [], 0
        for width in _UNDOTTED_LENGTHS[len(code)]:
            parts.append(code[start : start + width])
            start += width
        return ".".join(parts)
    return None


def normalize_region_code(raw: str, *, field: str = "region_code") -> str:
    """Dotted form of ``raw``; a malformed code is a 422 naming ``field``."""
    code = parse_region_code(raw)
    if code is None:
        raise ValidationFailed(
            errors=[
                FieldError(
                    field,
                    "invalid_region_code",
                    "A region code is 2, 4, 6 or 10 digits, dotted (33.28.02) or not (332802).",
                )
            ]
        )
    return code


def level_of(code: str) -> RegionLevel:
    return _LEVEL_BY_PARTS[code.count(".") + 1]


def ancestors_of(code: str) -> list[str]:
    """Codes of the regions above ``code``, from the province down (not ``code`` itself)."""
    parts = code.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts))]


def contains(outer: str, inner: str) -> bool:
    """Whether region ``inner`` lies within region ``outer`` (a region contains itself)."""
    return inner == outer or inner.startswith(outer + ".")


def regency_of(code: str) -> str:
    """The regency (kabupaten/kota) ``code`` lies in; a province is returned as it is."""
    return ".".join(code.split(".")[:2])
