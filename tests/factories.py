"""Test data factories: API clients with tokens, and request bodies."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import service as auth_service
from service.auth.scopes import ALL_SCOPES
from service.auth.tokens import TokenKeys, issue_token

_counter = itertools.count(1)


@dataclass
class IssuedClient:
    client_id: str
    secret: str
    token: str
    region: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class ClientFactory:
    def __init__(self, session: AsyncSession, keys: TokenKeys, *, commit: bool = False) -> None:
        self.session = session
        self.keys = keys
        self.commit = commit

    async def __call__(
        self, region: str | None = None, scopes: list[str] | None = None, name: str | None = None
    ) -> IssuedClient:
        created = await auth_service.create_client(
            self.session,
            auth_service.operator(),
            name=name or f"test client {next(_counter)}",
            scopes=sorted(ALL_SCOPES) if scopes is None else scopes,
            region_code=region,
        )
        if self.commit:
            await self.session.commit()
        token = issue_token(
            self.keys,
            client_id=created.client.id,
            scopes=created.client.scopes,
            region_code=created.client.region_code,
            secret_generation=created.client.secret_generation,
            ttl_seconds=600,
        )
        return IssuedClient(
            str(created.client.id), created.secret, token, created.client.region_code
        )


def program_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": f"PRG{next(_counter)}",
        "name": "Program Kabupaten Tegal",
        "level": "district",
        "benefit_kind": "training",
        "region_code": "33.28",
    }
    body.update(overrides)
    return body


def nik_for(district: str, birth: dt.date, *, female: bool, serial: int | None = None) -> str:
    """A structurally valid NIK: district of issue, birth date (+40 on the day for women)."""
    day = birth.day + (40 if female else 0)
    number = serial if serial is not None else next(_counter) % 9999 + 1
    return (
        f"{district.replace('.', '')}{day:02d}{birth.month:02d}{birth.year % 100:02d}{number:04d}"
    )


def no_kk_for(district: str, issued: dt.date = dt.date(2023, 5, 16)) -> str:
    return f"{district.replace('.', '')}{issued:%d%m%y}{next(_counter) % 9999 + 1:04d}"


def member_body(
    relationship: str = "KEPALA_KELUARGA",
    *,
    district: str = "33.28.02",
    birth: dt.date = dt.date(1985, 3, 14),
    female: bool = False,
    name: str = "Slamet Riyadi",
) -> dict[str, Any]:
    return {
        "nik": nik_for(district, birth, female=female),
        "name": name,
        "sex": "P" if female else "L",
        "birth_date": birth.isoformat(),
        "relationship": relationship,
    }


def family_body(village: str = "33.28.02.2001", **overrides: Any) -> dict[str, Any]:
    """A family of three in a village (Guci, Bumijawa, Kabupaten Tegal by default)."""
    district = village.rsplit(".", 1)[0]
    body: dict[str, Any] = {
        "no_kk": no_kk_for(district),
        "village_code": village,
        "address": "RT 02 RW 05",
        "desil": 2,
        "members": [
            member_body(district=district),
            member_body(
                "ISTRI",
                district=district,
                birth=dt.date(1988, 7, 2),
                female=True,
                name="Siti Aminah",
            ),
            member_body("ANAK", district=district, birth=dt.date(2012, 1, 20), name="Budi"),
        ],
        "programs": ["PKH"],
    }
    body.update(overrides)
    return body


# --- KUBE groups and grants, training cohorts ------------------------------------------------


def kube_group_body(
    village: str = "33.28.02.2001", family_ids: list[str] | None = None, **overrides: Any
) -> dict[str, Any]:
    """A KUBE in Guci (Bumijawa, Kabupaten Tegal) by default; the first family is its ketua."""
    body: dict[str, Any] = {
        "name": f"KUBE Sekar Melati {next(_counter)}",
        "village_code": village,
        "business_category": "kuliner",
        "members": [
            {"family_id": family_id, "role": "ketua" if index == 0 else "anggota"}
            for index, family_id in enumerate(family_ids or [])
        ],
    }
    body.update(overrides)
    return body


def grant_body(group_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "group_id": group_id,
        "amount": 20_000_000,
        "purpose": "Modal usaha katering",
    }
    body.update(overrides)
    return body


def cohort_body(
    region: str = "33.28.02", session_days: list[dt.date] | None = None, **overrides: Any
) -> dict[str, Any]:
    """A sewing training in Bumijawa, four past session days by default."""
    days = (
        session_days
        if session_days is not None
        else [dt.date(2026, 10, 5) + dt.timedelta(days=n) for n in range(4)]
    )
    body: dict[str, Any] = {
        "name": f"Pelatihan menjahit {next(_counter)}",
        "program_code": "PK3E",
        "topic": "menjahit",
        "region_code": region,
        "venue": "Balai Desa Guci",
        "capacity": 30,
        "trainer_name": "Ibu Ratna",
        "sessions": [{"held_on": day.isoformat()} for day in days],
    }
    body.update(overrides)
    return body
