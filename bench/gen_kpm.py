"""Generate a synthetic KPM (beneficiary family) roll in the canonical import CSV.

One row per person, grouped by family card (no_kk), in real villages read from the project's
own region data (``service/regions/data/villages.csv``). A chosen share of families is spoiled
on purpose, one defect each; ``expected.json`` lists every spoiled family with the defect's
code and field, and the lines of its rows.

Provenance: a typed, ruff-formatted copy of the ``tools/gen_kpm.py`` that was handed out with
the sample data beside the project (see ``tests/data/kpm-2000/README.md``). It makes byte for
byte the same files: the sample roll in ``tests/data/kpm-2000`` is ``python -m bench.gen_kpm
tests/data/kpm-2000 --families 2000 --seed 7``. Names and numbers are invented; NIK and No KK
follow the real structure.

usage: python -m bench.gen_kpm OUT_DIR --families N [--bad-share 0.02] [--seed 1]
       [--regencies 33.28,33.10,17.06,35.75]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
from collections.abc import Sequence
from pathlib import Path

VILLAGES_CSV = Path(__file__).resolve().parent.parent / "service/regions/data/villages.csv"
HEADER = [
    "no_kk",
    "nik",
    "name",
    "relationship",
    "sex",
    "birth_date",
    "village_code",
    "address",
    "desil",
    "programs",
]
FIRST_M = [
    "Ahmad", "Budi", "Slamet", "Sutrisno", "Joko", "Agus", "Wahyu", "Bambang", "Eko", "Heri",
    "Rudi", "Teguh", "Imam", "Darto", "Sugeng", "Yanto", "Kasno", "Warsito", "Parno", "Tarmuji",
]  # fmt: skip
FIRST_F = [
    "Siti", "Sri", "Sumiyati", "Warsini", "Tri", "Endang", "Wartini", "Rini", "Dewi", "Yuli",
    "Suparmi", "Tumini", "Kasmini", "Nur", "Aminah", "Lestari", "Rukmini", "Painem", "Sarni",
    "Wati",
]  # fmt: skip
LAST = [
    "Wibowo", "Santoso", "Hidayat", "Saputra", "Lestari", "Rahayu", "Purnomo", "Susanto",
    "Wijaya", "Kurniawan", "Setiawan", "Handayani", "Pratama", "Nugroho", "Suryani", "",
]  # fmt: skip
PROGRAMS = ["PKH", "BPNT", "PK3E"]
# A fixed "today", so that the same seed always makes the same file.
TODAY = dt.date(2026, 11, 1)

Row = dict[str, str]


def villages(regencies: Sequence[str]) -> list[Row]:
    with VILLAGES_CSV.open() as handle:
        return [
            row
            for row in csv.DictReader(handle)
            if any(row["code"].startswith(r + ".") for r in regencies)
        ]


def nik(district_code: str, birth: dt.date, female: bool, serial: int) -> str:
    day = birth.day + (40 if female else 0)
    return (
        district_code.replace(".", "")
        + f"{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"
    )


def family(rng: random.Random, village: Row, serials: dict[str, int]) -> list[Row]:
    district = village["district_code"]
    issued = TODAY - dt.timedelta(days=rng.randint(30, 6000))
    serials[district] = serials.get(district, 0) + 1
    no_kk = (
        district.replace(".", "") + issued.strftime("%d%m%y") + f"{serials[district] % 10000:04d}"
    )
    last = rng.choice(LAST)
    people: list[tuple[str, bool, dt.date]] = []
    head_female = rng.random() < 0.25
    head_birth = TODAY - dt.timedelta(days=rng.randint(25 * 365, 70 * 365))
    people.append(("KEPALA_KELUARGA", head_female, head_birth))
    if not head_female and rng.random() < 0.85:
        people.append(("ISTRI", True, head_birth + dt.timedelta(days=rng.randint(-3000, 3000))))
    for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4])):
        # the draws stay in the original's order (sex, then birth), so seeds make the same files
        female = rng.random() < 0.5
        days = rng.randint(18 * 365, 24 * 365)
        people.append(("ANAK", female, head_birth + dt.timedelta(days=days)))
    desil = rng.choice([1, 1, 1, 2, 2, 3, 4])
    programs = ";".join(sorted(rng.sample(PROGRAMS, rng.randint(1, 2))))
    address = f"RT {rng.randint(1, 12):02d} RW {rng.randint(1, 8):02d}, Desa {village['name']}"
    rows = []
    for relationship, female, born in people:
        birth = min(born, TODAY - dt.timedelta(days=200))
        serials[district] += 1
        name = (rng.choice(FIRST_F if female else FIRST_M) + " " + last).strip()
        rows.append(
            {
                "no_kk": no_kk,
                "nik": nik(district, birth, female, serials[district] % 10000 or 1),
                "name": name,
                "relationship": relationship,
                "sex": "P" if female else "L",
                "birth_date": birth.isoformat(),
                "village_code": village["code"],
                "address": address,
                "desil": str(desil),
                "programs": programs,
            }
        )
    return rows


def spoil(
    rng: random.Random, rows: list[Row], kind: str, others: list[Row]
) -> tuple[str, str] | None:
    """Spoil one family with one defect; (code, field) is what an importer should report."""
    r = rng.choice(rows)
    if kind == "nik_length":
        r["nik"] = r["nik"][:15]
        return ("invalid_nik", "nik")
    if kind == "nik_letters":
        r["nik"] = r["nik"][:10] + "AB" + r["nik"][12:]
        return ("invalid_nik", "nik")
    if kind == "nik_bad_date":
        r["nik"] = r["nik"][:6] + "32" + r["nik"][8:]
        return ("invalid_nik", "nik")
    if kind == "kk_length":
        for x in rows:
            x["no_kk"] = x["no_kk"][:14]
        return ("invalid_no_kk", "no_kk")
    if kind == "unknown_village":
        for x in rows:
            x["village_code"] = x["village_code"][:-4] + "9999"
        return ("unknown_region", "village_code")
    if kind == "no_head":
        for x in rows:
            if x["relationship"] == "KEPALA_KELUARGA":
                x["relationship"] = "FAMILI_LAIN"
        return ("missing_head", "relationship")
    if kind == "two_heads":
        if len(rows) < 2:
            return None
        rows[1]["relationship"] = "KEPALA_KELUARGA"
        return ("multiple_heads", "relationship")
    if kind == "bad_sex":
        r["sex"] = "X"
        return ("invalid_value", "sex")
    if kind == "future_birth":
        r["birth_date"] = (TODAY + dt.timedelta(days=400)).isoformat()
        return ("invalid_value", "birth_date")
    if kind == "bad_date":
        r["birth_date"] = "1980-02-30"
        return ("invalid_value", "birth_date")
    if kind == "bad_desil":
        for x in rows:
            x["desil"] = "11"
        return ("invalid_value", "desil")
    if kind == "unknown_program":
        for x in rows:
            x["programs"] = "PKH;BANSOS_X"
        return ("unknown_program", "programs")
    if kind == "empty_name":
        r["name"] = "  "
        return ("invalid_value", "name")
    if kind == "dup_nik_in_file":
        r["nik"] = rng.choice(others)["nik"]
        return ("duplicate_nik", "nik")
    raise ValueError(kind)


KINDS = [
    "nik_length", "nik_letters", "nik_bad_date", "kk_length", "unknown_village", "no_head",
    "two_heads", "bad_sex", "future_birth", "bad_date", "bad_desil", "unknown_program",
    "empty_name", "dup_nik_in_file",
]  # fmt: skip


def generate(
    out: Path,
    families: int,
    *,
    bad_share: float = 0.02,
    seed: int = 1,
    regencies: Sequence[str] = ("33.28", "33.10", "17.06", "35.75"),
) -> str:
    """Write ``out/kpm.csv`` and ``out/expected.json``; return a one-line summary."""
    rng = random.Random(seed)
    vs = villages(regencies)
    serials: dict[str, int] = {}
    fams = [family(rng, rng.choice(vs), serials) for _ in range(families)]
    # keep NIK and KK unique among the good ones
    seen: set[str] = set()
    uniq = []
    for f in fams:
        keys = {x["nik"] for x in f} | {"KK" + f[0]["no_kk"]}
        if keys & seen or len({x["nik"] for x in f}) != len(f):
            continue
        seen |= keys
        uniq.append(f)
    fams = uniq
    bad: dict[int, dict[str, object]] = {}
    n_bad = int(len(fams) * bad_share)
    idx = sorted(rng.sample(range(1, len(fams)), n_bad))
    for j, i in enumerate(idx):
        kind = KINDS[j % len(KINDS)]
        others = [x for k, f in enumerate(fams[:i]) if k not in bad for x in f]
        got = spoil(rng, fams[i], kind, others)
        if got:
            bad[i] = {"no_kk": fams[i][0]["no_kk"], "kind": kind, "code": got[0], "field": got[1]}
    out.mkdir(parents=True, exist_ok=True)
    line = 1
    first_lines: dict[int, int] = {}
    with open(out / "kpm.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, HEADER)
        writer.writeheader()
        for i, fam in enumerate(fams):
            if i in bad:
                bad[i]["lines"] = [line + 1 + k for k in range(len(fam))]
                first_lines[i] = line + 1
            for row in fam:
                writer.writerow(row)
            line += len(fam)
    good = [f for i, f in enumerate(fams) if i not in bad]
    # a family spoiled with dup_nik_in_file reuses a NIK of an earlier, good family: the later
    # one is refused
    with open(out / "expected.json", "w") as handle:
        json.dump(
            {
                "families": len(fams),
                "people": sum(len(f) for f in fams),
                "valid_families": len(good),
                "valid_people": sum(len(f) for f in good),
                "rejected": [bad[i] for i in sorted(bad, key=first_lines.__getitem__)],
            },
            handle,
            indent=1,
        )
    people = sum(len(f) for f in fams)
    return f"{len(fams)} families, {people} people, {len(bad)} spoiled -> {out}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path)
    parser.add_argument("--families", type=int, required=True)
    parser.add_argument("--bad-share", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--regencies", default="33.28,33.10,17.06,35.75")
    args = parser.parse_args(argv)
    print(
        generate(
            args.out,
            args.families,
            bad_share=args.bad_share,
            seed=args.seed,
            regencies=args.regencies.split(","),
        )
    )


if __name__ == "__main__":
    main()
