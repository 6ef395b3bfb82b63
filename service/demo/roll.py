"""Synthetic beneficiary families with structurally valid, deterministic NIK and No KK.

Serials start at 5001 so the demo never collides with numbers people type by hand in a trial
(which start low); within a district every person gets the next serial, so no two demo people
share a NIK.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from service.kpm.import_files import FIELDS

MEN = ("Slamet", "Sutrisno", "Budi", "Joko", "Agus", "Darmaji", "Wahyudi", "Supriyadi", "Rahmat")
WOMEN = ("Siti", "Sri", "Aminah", "Wartini", "Rumini", "Suminah", "Dewi", "Ratna", "Kartini")
FAMILY_NAMES = ("Riyadi", "Santoso", "Hidayat", "Wibowo", "Saputra", "Nugroho", "Lestari")

FIRST_SERIAL = 5001


@dataclass
class Person:
    nik: str
    name: str
    sex: str
    birth_date: dt.date
    relationship: str


@dataclass
class SyntheticFamily:
    no_kk: str
    village_code: str
    desil: int
    programs: list[str]
    members: list[Person] = field(default_factory=list)


class RollMaker:
    """Makes families village by village; one instance per demo load keeps serials unique."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self._serials: dict[str, int] = defaultdict(lambda: FIRST_SERIAL)

    def _serial(self, district: str) -> int:
        serial = self._serials[district]
        self._serials[district] = serial + 1
        if serial > 9999:
            raise ValueError(f"district {district} ran out of demo serials")
        return serial

    def _nik(self, district: str, birth: dt.date, female: bool) -> str:
        day = birth.day + (40 if female else 0)
        return f"{district}{day:02d}{birth:%m%y}{self._serial(district):04d}"

    def _birth(self, first_year: int, last_year: int) -> dt.date:
        start = dt.date(first_year, 1, 1).toordinal()
        return dt.date.fromordinal(
            self.random.randint(start, dt.date(last_year, 12, 28).toordinal())
        )

    def family(self, village_code: str, programs: list[str], *, size: int) -> SyntheticFamily:
        district = village_code.replace(".", "")[:6]
        issued = self._birth(2015, 2024)
        no_kk = f"{district}{issued:%d%m%y}{self._serial(district):04d}"
        surname = self.random.choice(FAMILY_NAMES)
        family = SyntheticFamily(no_kk, village_code, self.random.randint(1, 4), programs)
        head_birth = self._birth(1962, 1994)
        family.members.append(
            Person(
                self._nik(district, head_birth, False),
                f"{self.random.choice(MEN)} {surname}",
                "L",
                head_birth,
                "KEPALA_KELUARGA",
            )
        )
        if size >= 2:
            birth = self._birth(head_birth.year, min(head_birth.year + 8, 1998))
            family.members.append(
                Person(
                    self._nik(district, birth, True), self.random.choice(WOMEN), "P", birth, "ISTRI"
                )
            )
        for _ in range(size - 2):
            female = self.random.random() < 0.5
            birth = self._birth(2005, 2020)
            names = WOMEN if female else MEN
            family.members.append(
                Person(
                    self._nik(district, birth, female),
                    f"{self.random.choice(names)} {surname}",
                    "P" if female else "L",
                    birth,
                    "ANAK",
                )
            )
        return family


def write_import_csv(families: Iterable[SyntheticFamily], path: Path) -> int:
    """The families in the canonical import CSV; answers the number of people written."""
    people = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for family in families:
            for person in family.members:
                people += 1
                row = {
                    "no_kk": family.no_kk,
                    "nik": person.nik,
                    "name": person.name,
                    "relationship": person.relationship,
                    "sex": person.sex,
                    "birth_date": person.birth_date.isoformat(),
                    "village_code": family.village_code,
                    "address": f"RT {int(person.nik[-2:]) % 9 + 1:02d} RW 0{len(family.members)}",
                    "desil": str(family.desil),
                    "programs": ";".join(family.programs),
                }
                writer.writerow([row[name] for name in FIELDS])
    return people
