"""Test data factories: API clients with tokens, and request bodies."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.auth import clients as auth_clients
from service.auth.scopes import ALL_SCOPES
from service.auth.tokens import TokenKeys, issue_token
from service.database import create_session_factory

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
        created = await auth_clients.create_client(
            self.session,
            auth_clients.operator(),
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


# --- budget allocations and disbursements ----------------------------------------------------


def allocation_body(**overrides: Any) -> dict[str, Any]:
    """PK3E money of Kabupaten Tegal from its own budget (APBD II), fiscal year 2026."""
    body: dict[str, Any] = {
        "program_code": "PK3E",
        "fiscal_year": 2026,
        "funding_source": "APBD_KABKOTA",
        "region_code": "33.28",
        "amount": 1_600_000_000,
    }
    body.update(overrides)
    return body


def disbursement_body(allocation_id: str, recipient_id: str, **overrides: Any) -> dict[str, Any]:
    """Rp2.5 million business capital to a family, for the first quarter of 2026."""
    body: dict[str, Any] = {
        "allocation_id": allocation_id,
        "recipient_kind": "kpm",
        "recipient_id": recipient_id,
        "amount": 2_500_000,
        "purpose": "Modal usaha",
        "channel": "bank_transfer",
        "period": "2026-Q1",
    }
    body.update(overrides)
    return body


def money_headers(client: IssuedClient, key: str | None = None) -> dict[str, str]:
    """The client's token and a fresh Idempotency-Key (or the one given, to retry)."""
    return {**client.headers, "Idempotency-Key": key or str(uuid.uuid4())}


async def insert_families(session: AsyncSession, village: str, count: int) -> list[str]:
    """``count`` live families in ``village`` in one statement, for tests that pay thousands of
    them: a disbursement needs only the family and its village, so they have no members."""
    assert 1 <= count <= 9999
    n = next(_counter)
    # An issue date of its own per call (years 1990-1999, which other factories do not use)
    # keeps the No KK unique.
    issued = f"{n % 28 + 1:02d}{n // 28 % 12 + 1:02d}9{n // 336 % 10}"
    prefix = village.rsplit(".", 1)[0].replace(".", "") + issued
    rows = await session.execute(
        text(
            "INSERT INTO kpm_family (no_kk, village_code)"
            " SELECT :prefix || lpad(n::text, 4, '0'), :village"
            " FROM generate_series(1, CAST(:count AS int)) AS n RETURNING id"
        ),
        {"prefix": prefix, "village": village, "count": count},
    )
    return [str(row[0]) for row in rows]


def reconciliation_csv(lines: list[tuple[str, str, int | str, str]]) -> bytes:
    """A settlement file as the bank sends it: header, then reference,status,amount,date."""
    body = "reference,status,amount,date\n" + "".join(
        f"{reference},{status},{amount},{date}\n" for reference, status, amount, date in lines
    )
    return body.encode()


async def committed_families(engine: AsyncEngine, village: str, count: int) -> list[str]:
    """``insert_families``, committed: for tests whose requests run in parallel on their own
    connections."""
    async with create_session_factory(engine)() as session, session.begin():
        return await insert_families(session, village, count)


async def allocation_state(
    http: httpx.AsyncClient, client: IssuedClient, allocation_id: str
) -> tuple[int, int, int]:
    """(committed, confirmed, remaining) of an allocation, as its reader sees them."""
    body = (await http.get(f"/api/v1/allocations/{allocation_id}", headers=client.headers)).json()
    return body["committed"], body["confirmed"], body["remaining"]


async def new_allocation(
    http: httpx.AsyncClient, client: IssuedClient, **overrides: Any
) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/allocations", json=allocation_body(**overrides), headers=client.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def new_disbursement(
    http: httpx.AsyncClient,
    client: IssuedClient,
    allocation_id: str,
    recipient_id: str,
    **overrides: Any,
) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/disbursements",
        json=disbursement_body(allocation_id, recipient_id, **overrides),
        headers=money_headers(client),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def move_disbursement(
    http: httpx.AsyncClient,
    client: IssuedClient,
    disbursement_id: str,
    to: str,
    note: str = "Diproses bendahara",
    **extra: Any,
) -> httpx.Response:
    return await http.post(
        f"/api/v1/disbursements/{disbursement_id}/transitions",
        json={"to": to, "note": note, **extra},
        headers=money_headers(client),
    )
