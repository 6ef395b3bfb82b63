from __future__ import annotations

import pytest

from service.errors import ValidationFailed
from service.regions.codes import ancestors_of, contains, level_of, normalize_region_code


@pytest.mark.parametrize(
    ("raw", "dotted"),
    [
        ("33", "33"),
        ("3328", "33.28"),
        ("332802", "33.28.02"),
        ("3328022001", "33.28.02.2001"),
        ("33.28.02.2001", "33.28.02.2001"),
        (" 33.28 ", "33.28"),
    ],
)
def test_dotted_and_undotted_codes(raw: str, dotted: str) -> None:
    assert normalize_region_code(raw) == dotted


@pytest.mark.parametrize("raw", ["", "3", "333", "33.2", "33.28.2001", "33-28", "３３", "33.28."])
def test_malformed_codes_name_the_field(raw: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        normalize_region_code(raw, field="village_code")
    assert refused.value.errors[0].field == "village_code"
    assert refused.value.errors[0].code == "invalid_region_code"


def test_tree_relations() -> None:
    assert level_of("33.28.02") == "district"
    assert ancestors_of("33.28.02.2001") == ["33", "33.28", "33.28.02"]
    assert contains("33.28", "33.28.02.2001")
    assert contains("33.28", "33.28")
    assert not contains("33.2", "33.28")  # a prefix of the text is not a parent region
    assert not contains("33.28", "33.29.01")
