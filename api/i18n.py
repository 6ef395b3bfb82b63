"""Problem texts in English and Indonesian (``Accept-Language: id``), by stable code.

Domain errors carry an English detail; where the catalogue knows the code, the caller's language
wins. Field messages fall back to the English text of the validator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.errors import INVALID_FIELDS

TITLES: dict[int, tuple[str, str]] = {
    400: ("Bad request", "Permintaan tidak valid"),
    401: ("Authentication required", "Autentikasi diperlukan"),
    403: ("Forbidden", "Akses ditolak"),
    404: ("Not found", "Tidak ditemukan"),
    405: ("Method not allowed", "Metode tidak diizinkan"),
    406: ("Not acceptable", "Format tidak tersedia"),
    409: ("Conflict", "Konflik"),
    410: ("Gone", "Sudah tidak tersedia"),
    412: ("Precondition failed", "Prasyarat gagal"),
    413: ("Content too large", "Konten terlalu besar"),
    415: ("Unsupported media type", "Jenis media tidak didukung"),
    422: ("Validation failed", "Validasi gagal"),
    428: ("Precondition required", "Prasyarat diperlukan"),
    429: ("Too many requests", "Terlalu banyak permintaan"),
    500: ("Internal server error", "Kesalahan server"),
    503: ("Service unavailable", "Layanan tidak tersedia"),
}

# code -> (English, Indonesian); ``{name}`` placeholders come from the error's params.
DETAILS: dict[str, tuple[str, str]] = {
    "unauthorized": (
        "Send a bearer token from POST /oauth/token.",
        "Kirim bearer token dari POST /oauth/token.",
    ),
    "invalid_token": (
        "The access token is invalid or expired.",
        "Token akses tidak valid atau kedaluwarsa.",
    ),
    "content_too_large": (
        "The request body is larger than this route accepts.",
        "Isi permintaan lebih besar dari yang diterima rute ini.",
    ),
    "rate_limited": (
        "Too many requests; retry after the time in Retry-After.",
        "Terlalu banyak permintaan; coba lagi setelah waktu pada Retry-After.",
    ),
    "token_expired": ("The access token has expired.", "Token akses sudah kedaluwarsa."),
    "invalid_client": ("Client authentication failed.", "Autentikasi klien gagal."),
    "invalid_request": (
        "A parameter is missing or malformed; see errors.",
        "Ada parameter yang hilang atau salah bentuk; lihat errors.",
    ),
    "invalid_scope": (
        "The client may not request that scope.",
        "Klien tidak boleh meminta scope tersebut.",
    ),
    "unsupported_grant_type": (
        "Only the client_credentials grant is supported.",
        "Hanya grant client_credentials yang didukung.",
    ),
    "insufficient_scope": (
        "This action needs the scope '{scope}'.",
        "Tindakan ini memerlukan scope '{scope}'.",
    ),
    "outside_region": (
        "The record's region lies outside the region this client is bound to.",
        "Wilayah data berada di luar wilayah klien ini.",
    ),
    "not_found": ("No such resource.", "Data tidak ditemukan."),
    "route_not_found": ("No such endpoint.", "Endpoint tidak ditemukan."),
    "method_not_allowed": (
        "This endpoint does not accept that method.",
        "Endpoint ini tidak menerima metode tersebut.",
    ),
    "validation_failed": (
        INVALID_FIELDS,
        "Ada isian yang tidak valid; lihat errors.",
    ),
    "version_mismatch": (
        "The record changed since you read it; fetch it again and reapply your change.",
        "Data sudah berubah sejak Anda membacanya; ambil ulang lalu ulangi perubahan.",
    ),
    "if_match_required": (
        "Send If-Match with the record's ETag.",
        "Kirim If-Match berisi ETag data tersebut.",
    ),
    "duplicate_code": ("A record with that code exists.", "Kode tersebut sudah dipakai."),
    # Budget allocations and disbursements.
    "duplicate_allocation": (
        "An allocation for that program, fiscal year, funding source and region exists.",
        "Alokasi untuk program, tahun anggaran, sumber dana dan wilayah tersebut sudah ada.",
    ),
    "amount_below_committed": (
        "The amount cannot go below the {committed} rupiah already committed.",
        "Pagu tidak boleh lebih kecil dari Rp{committed} yang sudah terikat pada penyaluran.",
    ),
    "allocation_exhausted": (
        "The allocation has not enough left for this amount.",
        "Sisa alokasi tidak cukup untuk jumlah ini.",
    ),
    "duplicate_disbursement": (
        "The recipient already has a disbursement of this program for that period.",
        "Penerima sudah mendapat penyaluran program ini untuk periode tersebut.",
    ),
    "duplicate_external_reference": (
        "Another disbursement has that external reference.",
        "Nomor referensi tersebut sudah dipakai penyaluran lain.",
    ),
    "external_reference_set": (
        "The disbursement has another external reference already.",
        "Penyaluran ini sudah memiliki nomor referensi lain.",
    ),
    "invalid_transition": (
        "A record that is {from} cannot become {to}.",
        "Status {from} tidak dapat diubah menjadi {to}.",
    ),
    "idempotency_key_required": (
        "Send an Idempotency-Key header.",
        "Kirim header Idempotency-Key: nilai unik per permintaan, diulang hanya saat mencoba "
        "ulang permintaan yang sama.",
    ),
    "idempotency_key_reused": (
        "This Idempotency-Key was used for a different request.",
        "Idempotency-Key ini sudah dipakai untuk permintaan lain; gunakan kunci baru.",
    ),
    "idempotency_in_progress": (
        "A request with this Idempotency-Key is still running; retry in a moment.",
        "Permintaan dengan Idempotency-Key ini masih diproses; coba lagi sebentar lagi.",
    ),
    "internal_error": (
        "Something went wrong on our side; quote the request id to the operators.",
        "Terjadi kesalahan di server; sebutkan request id kepada operator.",
    ),
    "database_unavailable": (
        "The database is not reachable; try again shortly.",
        "Basis data tidak dapat dihubungi; coba lagi sebentar lagi.",
    ),
    # KUBE groups and grants, training cohorts
    "group_size": (
        "The member count does not fit the program's group size.",
        "Jumlah anggota tidak sesuai ukuran kelompok program.",
    ),
    "ketua_required": ("The group needs its ketua.", "Kelompok harus memiliki ketua."),
    "family_in_active_kube": (
        "A family already belongs to another active KUBE.",
        "Keluarga sudah menjadi anggota KUBE aktif lain.",
    ),
    "already_member": ("The family is already a member.", "Keluarga sudah menjadi anggota."),
    "group_full": (
        "The group has the most member families its program allows.",
        "Kelompok sudah mencapai jumlah anggota maksimum ({max}).",
    ),
    "group_dissolved": ("The group is dissolved.", "Kelompok sudah dibubarkan."),
    "not_forming": (
        "Only a forming group can move to another village.",
        "Hanya kelompok yang sedang dibentuk yang dapat pindah desa.",
    ),
    "open_grant": (
        "The group still has a grant under way.",
        "Kelompok masih memiliki bantuan yang sedang berjalan.",
    ),
    "open_grant_exists": (
        "The group already has a grant under way.",
        "Kelompok sudah memiliki bantuan yang sedang berjalan.",
    ),
    "group_not_active": (
        "Grants are proposed for active groups only.",
        "Bantuan hanya diusulkan untuk kelompok yang aktif.",
    ),
    "grant_locked": (
        "The grant can no longer be changed.",
        "Bantuan tidak dapat diubah lagi.",
    ),
    "province_required": (
        "Only a provincial or national client recommends a grant.",
        "Hanya klien provinsi atau nasional yang dapat merekomendasikan bantuan.",
    ),
    "not_reporting": (
        "Reports are taken for disbursed grants.",
        "Laporan hanya untuk bantuan yang sudah dicairkan.",
    ),
    "cohort_full": (
        "The cohort is full.",
        "Kelas pelatihan sudah penuh ({capacity} tempat).",
    ),
    "cohort_closed": (
        "The cohort takes no more changes of this kind.",
        "Kelas pelatihan sudah ditutup.",
    ),
    "already_enrolled": (
        "The person is already in this cohort.",
        "Peserta sudah terdaftar di kelas ini.",
    ),
    "cohort_started": (
        "The cohort has started.",
        "Kelas pelatihan sudah dimulai.",
    ),
    "cohort_not_running": (
        "Attendance is taken once the cohort runs.",
        "Presensi dicatat setelah pelatihan berjalan.",
    ),
    "cohort_not_completed": (
        "Outcomes follow a completed cohort.",
        "Hasil tindak lanjut dicatat setelah pelatihan selesai.",
    ),
    "session_in_future": (
        "The session has not taken place yet.",
        "Sesi belum berlangsung.",
    ),
    "no_sessions": (
        "Add the cohort's sessions before it starts.",
        "Tambahkan jadwal sesi sebelum pelatihan dimulai.",
    ),
    "capacity_below_participants": (
        "The capacity cannot go below the number enrolled.",
        "Kapasitas tidak boleh kurang dari jumlah peserta.",
    ),
}

FIELD_MESSAGES_ID: dict[str, str] = {
    "missing": "Wajib diisi.",
    "extra_forbidden": "Isian ini tidak dikenal.",
    "string_too_short": "Terlalu pendek.",
    "string_too_long": "Terlalu panjang.",
    "string_pattern_mismatch": "Formatnya tidak sesuai.",
    "string_type": "Harus berupa teks.",
    "int_parsing": "Harus berupa bilangan bulat.",
    "int_type": "Harus berupa bilangan bulat.",
    "greater_than_equal": "Nilainya terlalu kecil.",
    "less_than_equal": "Nilainya terlalu besar.",
    "enum": "Nilainya tidak termasuk pilihan yang ada.",
    "literal_error": "Nilainya tidak termasuk pilihan yang ada.",
    "bool_parsing": "Harus true atau false.",
    "json_invalid": "JSON tidak valid.",
    "invalid_encoding": "Isi permintaan bukan UTF-8 yang valid.",
    "unreadable_body": "Isi permintaan tidak dapat dibaca.",
    "body_required": "Kirim berkasnya sebagai isi permintaan.",
    "iso_8601_datetime": "Harus berupa waktu ISO 8601, mis. 2026-01-31T08:00:00+07:00.",
    "uuid_parsing": "Harus berupa UUID.",
    "date_from_datetime_parsing": "Harus berupa tanggal ISO 8601.",
    "invalid_region_code": "Kode wilayah terdiri dari 2, 4, 6 atau 10 digit.",
    "unknown_region": "Wilayah tidak ditemukan.",
    "invalid_cursor": "Cursor tidak dikenal.",
    "unknown_scope": "Scope tidak dikenal.",
    "required": "Wajib diisi.",
    "too_short": "Terlalu pendek.",
    "unknown_program": "Program tidak ditemukan.",
    "unknown_family": "Keluarga tidak ditemukan.",
    "archived_family": "Keluarga sudah diarsipkan.",
    "outside_group_regency": "Keluarga berada di luar kabupaten/kota kelompok.",
    "in_other_active_kube": "Keluarga sudah menjadi anggota KUBE aktif lain.",
    "duplicate_family": "Keluarga tercantum dua kali.",
    "duplicate_role": "Jabatan ini hanya untuk satu anggota.",
    "unknown_group": "Kelompok KUBE tidak ditemukan.",
    "unknown_member": "Anggota keluarga tidak ditemukan.",
    "outside_cohort_region": "Keluarga berada di luar wilayah pelatihan.",
    "duplicate_session": "Sudah ada sesi pada tanggal itu.",
    "unknown_participant": "Bukan peserta kelas ini.",
    "duplicate_participant": "Peserta tercantum dua kali.",
    "in_future": "Tanggal tidak boleh di masa depan.",
    "not_allowed": "Isian ini tidak diperbolehkan di sini.",
    "not_whole_rupiah": "Harus berupa bilangan bulat rupiah.",
    "missing_column": "Kolom ini tidak ada di baris judul.",
}


def wants_indonesian(accept_language: str | None) -> bool:
    """True when Indonesian ranks above English in ``Accept-Language`` (q-values honoured)."""
    if not accept_language:
        return False
    best: tuple[float, str] = (0.0, "en")
    for part in accept_language.split(","):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.split("-")[0]
        if primary in ("id", "en") and quality > best[0]:
            best = (quality, primary)
    return best[1] == "id"


def title_for(status: int, indonesian: bool) -> str:
    english, bahasa = TITLES.get(status, (f"Error {status}", f"Kesalahan {status}"))
    return bahasa if indonesian else english


def detail_for(code: str, fallback: str, params: dict[str, Any], indonesian: bool) -> str:
    texts = DETAILS.get(code)
    if texts is None:
        return fallback
    template = texts[1] if indonesian else fallback
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template


def field_message(code: str, english: str, indonesian: bool) -> str:
    if indonesian:
        return FIELD_MESSAGES_ID.get(code, english)
    return english


def column_headers(keys: Sequence[str], indonesian: bool) -> list[str]:
    """The header row of an exported file: the English column names (the JSON's), or their
    Indonesian names (``COLUMN_HEADERS_ID``)."""
    if not indonesian:
        return list(keys)
    return [COLUMN_HEADERS_ID.get(key, key) for key in keys]


# Headers of the exported files in Indonesian, by English column name. The family columns are
# the import's Indonesian headers (service/kpm/import_files.py reads them), so a file exported
# with Indonesian headers imports back too; domain words (nik, no_kk, desil, verval, mandiri,
# alamiah) are Indonesian already.
COLUMN_HEADERS_ID: dict[str, str] = {
    "id": "id",
    "created_at": "dibuat_pada",
    "updated_at": "diubah_pada",
    "version": "versi",
    # families and members (the import's headers)
    "no_kk": "no_kk",
    "nik": "nik",
    "name": "nama",
    "relationship": "hubungan",
    "sex": "jenis_kelamin",
    "birth_date": "tanggal_lahir",
    "village_code": "kode_desa",
    "address": "alamat",
    "desil": "desil",
    "programs": "program",
    # KUBE groups and grants
    "program_code": "kode_program",
    "business_category": "kategori_usaha",
    "facilitator_id": "id_pendamping",
    "status": "status",
    "member_count": "jumlah_anggota",
    "members": "anggota",
    "group_id": "id_kelompok",
    "allocation_id": "id_alokasi",
    "amount": "jumlah_rupiah",
    "purpose": "keperluan",
    # training cohorts and participants
    "topic": "topik",
    "region_code": "kode_wilayah",
    "venue": "tempat",
    "capacity": "kapasitas",
    "participant_count": "jumlah_peserta",
    "trainer_name": "nama_pelatih",
    "completion_threshold": "ambang_kelulusan_persen",
    "session_count": "jumlah_sesi",
    "session_dates": "tanggal_sesi",
    "cohort_id": "id_kelas",
    "member_id": "id_anggota_keluarga",
    "family_id": "id_keluarga",
    "assessment_needs": "asesmen_kebutuhan",
    "assessment_business_potential": "asesmen_potensi_usaha",
    "assessment_notes": "asesmen_catatan",
    "attended": "hadir",
    "total": "total_sesi",
    "attendance_pct": "persen_kehadiran",
    "completed": "lulus",
    "outcome_started_business": "hasil_memulai_usaha",
    "outcome_business_kind": "hasil_jenis_usaha",
    # allocations and disbursements
    "fiscal_year": "tahun_anggaran",
    "funding_source": "sumber_dana",
    "committed": "terikat",
    "confirmed": "terealisasi",
    "remaining": "sisa",
    "recipient_kind": "jenis_penerima",
    "recipient_id": "id_penerima",
    "channel": "saluran",
    "period": "periode",
    "external_reference": "nomor_referensi",
    # facilitators
    "kind": "jenis",
    "active": "aktif",
    "yearly_target": "target_tahunan",
    # reports
    "step": "tahap",
    "families": "keluarga",
    "people": "jiwa",
    "graduated": "graduasi",
    "mandiri": "mandiri",
    "alamiah": "alamiah",
    "verval": "verval",
    "target_reached_pct": "persen_capaian_target",
    "first_session": "sesi_pertama",
    "sessions": "sesi",
    "participants": "peserta",
    "completion_pct": "persen_lulus",
    "started_business": "memulai_usaha",
    "record": "data",
    "count": "jumlah",
    "absorption_pct": "persen_penyerapan",
    "payments_confirmed": "pembayaran_terkonfirmasi",
}
