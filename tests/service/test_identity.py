"""The structure of NIK and No KK, checked rule by rule."""

from __future__ import annotations

import datetime as dt

import pytest

from service.kpm.identity import mask, nik_disagrees, nik_problem, no_kk_problem


@pytest.mark.parametrize(
    "nik",
    [
        "3328021403850001",  # a man born 14-03-1985 in Bumijawa, Kabupaten Tegal
        "3328025407880002",  # a woman born 14-07-1988: day 14 + 40
        "3328027112990003",  # a woman born 31-12-1999: day 71, the highest
        "1706012902000004",  # 29-02-2000 exists (the century is not encoded)
        "9471010101019999",  # Papua, serial 9999
    ],
)
def test_valid_niks(nik: str) -> None:
    assert nik_problem(nik) is None


@pytest.mark.parametrize(
    ("nik", "reason"),
    [
        ("332802140385001", "16 digits"),  # 15 digits
        ("33280214038500011", "16 digits"),
        ("33280214O3850001", "16 digits"),  # a letter O
        ("３３28021403850001", "16 digits"),  # full-width digits are not ASCII
        ("9928021403850001", "province"),  # no province 99
        ("0028021403850001", "province"),
        ("3328023203850001", "real date"),  # day 32
        ("3328027203850001", "real date"),  # day 72 = 32 for a woman
        ("3328020003850001", "real date"),  # day 00
        ("3328021413850001", "real date"),  # month 13
        ("3328023002850001", "real date"),  # 30 February
        ("3328021403850000", "0000"),
    ],
)
def test_invalid_niks_say_why(nik: str, reason: str) -> None:
    problem = nik_problem(nik)
    assert problem is not None
    assert reason in problem


def test_no_kk_has_no_plus_forty() -> None:
    assert no_kk_problem("3328021605230001") is None
    assert "real date" in (no_kk_problem("3328025605230001") or "")  # day 56
    assert "0000" in (no_kk_problem("3328021605230000") or "")
    assert "province" in (no_kk_problem("9928021605230001") or "")


@pytest.mark.parametrize(
    ("nik", "sex", "birth", "disagrees"),
    [
        ("3328025407880002", "P", dt.date(1988, 7, 14), False),
        ("3328021407880002", "P", dt.date(1988, 7, 14), True),  # woman without the +40
        ("3328025407880002", "L", dt.date(1988, 7, 14), True),  # +40 on a man
        ("3328021403850001", "L", dt.date(1985, 3, 15), True),  # another day
        ("3328021403850001", "L", dt.date(1985, 4, 14), True),  # another month
        ("3328021403850001", "L", dt.date(1986, 3, 14), True),  # another year
        ("3328021403850001", "L", dt.date(2085, 3, 14), False),  # same two-digit year
    ],
)
def test_nik_disagreement(nik: str, sex: str, birth: dt.date, disagrees: bool) -> None:
    assert nik_disagrees(nik, sex=sex, birth_date=birth) is disagrees


def test_mask_keeps_only_the_region_part() -> None:
    assert mask("3328021403850001") == "332802**********"
    assert mask(None) is None
