"""NIK and No KK: the structure of Indonesian identity numbers.

NIK ``PPKKCC DDMMYY SSSS``: the province, regency and district (kecamatan) of first issue, the
birth date with 40 added to the day for women, and a serial 0001-9999. No KK has the same shape
with the card's issue date (no +40). Real records carry errors, so a NIK whose date or sex
disagrees with the person is accepted and flagged; one that is not structurally valid is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from service.regions.province_codes import PROVINCE_CODES


@dataclass(frozen=True)
class NikFacts:
    """What a structurally valid NIK says about its holder."""

    day: int
    month: int
    year_2digits: int
    female: bool


def _is_16_digits(value: str) -> bool:
    return len(value) == 16 and value.isascii() and value.isdigit()


def _date_exists(day: int, month: int, year_2digits: int) -> bool:
    # The century is not encoded: the date must exist in one of the two candidates.
    for century in (1900, 2000):
        try:
            dt.date(century + year_2digits, month, day)
        except ValueError:
            continue
        return True
    return False


def nik_problem(nik: str) -> str | None:
    """Why ``nik`` is not a NIK, or ``None`` when it is structurally valid."""
    if not _is_16_digits(nik):
        return "A NIK is 16 digits."
    if nik[:2] not in PROVINCE_CODES:
        return "The NIK's first two digits are not a province code."
    day, month, year = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    if day > 40:
        day -= 40
    if not _date_exists(day, month, year):
        return "The NIK's date part (DDMMYY, day + 40 for women) is not a real date."
    if nik[12:] == "0000":
        return "The NIK's serial number cannot be 0000."
    return None


def no_kk_problem(no_kk: str) -> str | None:
    """Why ``no_kk`` is not a family card number, or ``None`` when it is structurally valid."""
    if not _is_16_digits(no_kk):
        return "A No KK is 16 digits."
    if no_kk[:2] not in PROVINCE_CODES:
        return "The No KK's first two digits are not a province code."
    if not _date_exists(int(no_kk[6:8]), int(no_kk[8:10]), int(no_kk[10:12])):
        return "The No KK's issue date part (DDMMYY) is not a real date."
    if no_kk[12:] == "0000":
        return "The No KK's serial number cannot be 0000."
    return None


def nik_facts(nik: str) -> NikFacts:
    """Facts of a NIK already known to be valid."""
    day = int(nik[6:8])
    return NikFacts(
        day=day - 40 if day > 40 else day,
        month=int(nik[8:10]),
        year_2digits=int(nik[10:12]),
        female=day > 40,
    )


def nik_disagrees(nik: str, *, sex: str, birth_date: dt.date) -> bool:
    """True when a valid NIK's birth date or sex differs from the person's record."""
    facts = nik_facts(nik)
    return (
        facts.female != (sex == "P")
        or facts.day != birth_date.day
        or facts.month != birth_date.month
        or facts.year_2digits != birth_date.year % 100
    )


def mask(number: str | None) -> str | None:
    """``3328021005950002`` -> ``332802**********``: the region part stays readable."""
    if number is None:
        return None
    return number[:6] + "*" * max(len(number) - 6, 0)
