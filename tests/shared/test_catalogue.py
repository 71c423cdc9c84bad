"""The SSC catalogue matches docs/product.md#domain and the seed report §3.1 exactly."""

from __future__ import annotations

from enum import StrEnum

import pytest

from shared.catalogue import (
    SOLUTIONS,
    THEMATIC_AREAS,
    TOPICS,
    ActivityStatus,
    ActivityType,
    AgeBand,
    Delivery,
    Level,
    Modality,
    ParticipantCategory,
    ProjectKind,
    ReviewAction,
    Role,
    Sex,
    ValueChainStage,
    codes,
    solutions_of,
    thematic_area_of_topic,
    topics_of,
)


def test_four_thematic_areas_with_their_names() -> None:
    assert {code: ta.name for code, ta in THEMATIC_AREAS.items()} == {
        "TA1": "Value Chain Development for Smallholders",
        "TA2": "Post-harvest Loss Management and Food Systems",
        "TA3": "Disaster Risk Reduction and Climate Change Resilience",
        "TA4": "Innovative Poverty Alleviation Initiative",
    }


def test_nine_solutions_and_twenty_five_topics() -> None:
    assert list(SOLUTIONS) == [f"S{n}" for n in range(1, 10)]
    assert len(TOPICS) == 25


@pytest.mark.parametrize(
    ("solution", "thematic_area", "modalities", "topic_count"),
    [
        ("S1", "TA1", "PTK", 3),
        ("S2", "TA1", "PTK", 3),
        ("S3", "TA1", "TK", 3),
        ("S4", "TA2", "PK", 3),
        ("S5", "TA2", "TK", 2),
        ("S6", "TA3", "PTK", 3),
        ("S7", "TA3", "TK", 3),
        ("S8", "TA4", "PK", 3),
        ("S9", "TA4", "TK", 2),
    ],
)
def test_solution_area_modalities_and_topics(
    solution: str, thematic_area: str, modalities: str, topic_count: int
) -> None:
    found = SOLUTIONS[solution]
    assert found.thematic_area == thematic_area
    assert "".join(m.value for m in found.modalities) == modalities
    topics = [code for code, topic in TOPICS.items() if topic.solution == solution]
    assert topics == [f"{solution}.T{n}" for n in range(1, topic_count + 1)]


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("S1.T1", "Rural E-commerce Development: Policy and Practice"),
        ("S2.T3", "Women's empowerment for rural development"),
        ("S3.T2", "Micro-finance and credit service in rural China"),
        ("S4.T3", "E-trading platform for grain"),
        (
            "S5.T1",
            "Post-harvest loss reduction and storage of key crops in Western Africa "
            "(e.g. maize, millet, cassava)",
        ),
        ("S6.T3", "Post-disaster resumption"),
        (
            "S7.T2",
            "Solar water-saving irrigation facilitating diversified operation development for "
            "smallholder farmers",
        ),
        ("S8.T3", "Social protection for the most vulnerable"),
        ("S9.T2", "Innovative model for poverty reduction"),
    ],
)
def test_topic_names_follow_the_seed_report(code: str, name: str) -> None:
    assert TOPICS[code].name == name


@pytest.mark.parametrize(
    ("solution", "name"),
    [
        ("S1", "Rural E-commerce Development and Smallholder Marketing Capacity"),
        ("S4", "National Grain Reserve and Storage Management"),
        ("S9", "Innovative Poverty Reduction Practices"),
    ],
)
def test_solution_names_follow_the_seed_report(solution: str, name: str) -> None:
    assert SOLUTIONS[solution].name == name


@pytest.mark.parametrize(
    ("vocabulary", "expected"),
    [
        (Modality, ["P", "T", "K"]),
        (Level, ["L1", "L2", "L3"]),
        (ProjectKind, ["CPP", "DAA"]),
        (
            ActivityType,
            [
                "demonstration",
                "farmer_training",
                "field_day",
                "workshop",
                "seminar",
                "webinar",
                "study_tour",
                "exchange_visit",
                "expert_deployment",
                "farmer_to_farmer",
                "roundtable",
                "high_level_visit",
                "research",
                "other",
            ],
        ),
        (Delivery, ["in_person", "online", "hybrid"]),
        (ValueChainStage, ["production", "storage", "processing", "marketing"]),
        (ParticipantCategory, ["farmer", "technician", "official", "other"]),
        (Sex, ["female", "male", "unspecified"]),
        (AgeBand, ["youth", "adult", "senior", "unspecified"]),
        (ActivityStatus, ["draft", "submitted", "approved", "returned"]),
        (ReviewAction, ["approve", "return", "reopen"]),
        (Role, ["field_expert", "country_officer", "hq_analyst", "admin"]),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_vocabularies_have_exactly_the_design_codes(
    vocabulary: type[StrEnum], expected: list[str]
) -> None:
    assert codes(vocabulary) == expected


def test_lookups() -> None:
    assert [s.code for s in solutions_of("TA2")] == ["S4", "S5"]
    assert [t.code for t in topics_of(["S5", "S9"])] == ["S5.T1", "S5.T2", "S9.T1", "S9.T2"]
    assert thematic_area_of_topic("S7.T1") == "TA3"
    assert thematic_area_of_topic("S7.T9") is None
