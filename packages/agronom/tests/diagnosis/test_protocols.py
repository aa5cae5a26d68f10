# ruff: noqa: RUF001 - the protocols are Russian text
"""Protocols are looked up by (crop, disease): a crop's variant where the crop changes what to
do, the disease's generic protocol otherwise, the "unknown" one for a disease not in the
catalogue."""

from __future__ import annotations

from agronom.diagnosis import protocols
from agronom.diagnosis.protocols import CATALOGUE, VARIANTS, protocol_for


def _ingredients(crop: str, disease: str) -> list[str]:
    return [p["active_ingredient"] for p in protocol_for(crop, disease).products]


def test_powdery_mildew_on_cucumber_warns_about_sulfur_and_leads_with_gentler_products() -> None:
    cucumber, generic = (
        protocol_for("cucumber", "powdery_mildew"),
        protocol_for("wheat", "powdery_mildew"),
    )
    assert "чувствительны к сере" in cucumber.safety_notes
    assert "чувствительны к сере" not in generic.safety_notes
    assert _ingredients("cucumber", "powdery_mildew")[0] != "сера коллоидная"
    assert _ingredients("wheat", "powdery_mildew")[0] == "сера коллоидная"
    assert cucumber.summary.startswith("Огурец: ")


def test_late_blight_differs_on_potato_and_tomato_and_keeps_the_generic_products_elsewhere() -> (
    None
):
    potato, tomato = protocol_for("potato", "late_blight"), protocol_for("tomato", "late_blight")
    assert any("ботву" in step for step in potato.steps)
    assert not any("ботву" in step for step in tomato.steps)
    assert any("зелёные" in step for step in tomato.steps)
    assert potato.steps != tomato.steps
    generic = CATALOGUE["late_blight"]
    assert tomato.steps[: len(generic.steps)] == list(generic.steps), "tomato adds to the generic"
    assert protocol_for("grape", "late_blight").steps == list(generic.steps)


def test_a_pair_without_a_variant_gets_the_generic_protocol() -> None:
    for disease, template in CATALOGUE.items():
        found = protocol_for("wheat", disease) if ("wheat", disease) not in VARIANTS else None
        if found is None:
            continue
        assert found.steps == list(template.steps)
        assert found.products == [dict(p) for p in template.products]
        assert found.safety_notes == template.safety_notes


def test_every_variant_is_of_a_known_crop_and_disease() -> None:
    for crop, disease in VARIANTS:
        assert crop in protocols.CROPS and disease in CATALOGUE, (crop, disease)


def test_an_unknown_disease_gets_the_unknown_protocol_on_any_crop() -> None:
    found = protocol_for("cucumber", "mystery_rot")
    assert found.steps == list(protocols.UNKNOWN.steps)
    assert found.products == []
