"""The South-South Cooperation catalogue: thematic areas, solutions, topics and every vocabulary.

Plain data and enums, importable on the tablet. The codes are fixed (docs/product.md#domain); the
names of
thematic areas, solutions and topics are those of the WFP China COE strategy report, §3.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Modality(StrEnum):
    POLICY = "P"
    TECHNICAL = "T"
    KNOWLEDGE = "K"


class Level(StrEnum):
    POLICY = "L1"
    INSTITUTIONAL = "L2"
    COMMUNITY = "L3"


class ProjectKind(StrEnum):
    CPP = "CPP"
    DAA = "DAA"


class ActivityType(StrEnum):
    DEMONSTRATION = "demonstration"
    FARMER_TRAINING = "farmer_training"
    FIELD_DAY = "field_day"
    WORKSHOP = "workshop"
    SEMINAR = "seminar"
    WEBINAR = "webinar"
    STUDY_TOUR = "study_tour"
    EXCHANGE_VISIT = "exchange_visit"
    EXPERT_DEPLOYMENT = "expert_deployment"
    FARMER_TO_FARMER = "farmer_to_farmer"
    ROUNDTABLE = "roundtable"
    HIGH_LEVEL_VISIT = "high_level_visit"
    RESEARCH = "research"
    OTHER = "other"


class Delivery(StrEnum):
    IN_PERSON = "in_person"
    ONLINE = "online"
    HYBRID = "hybrid"


class ValueChainStage(StrEnum):
    PRODUCTION = "production"
    STORAGE = "storage"
    PROCESSING = "processing"
    MARKETING = "marketing"


class ParticipantCategory(StrEnum):
    FARMER = "farmer"
    TECHNICIAN = "technician"
    OFFICIAL = "official"
    OTHER = "other"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    UNSPECIFIED = "unspecified"


class AgeBand(StrEnum):
    YOUTH = "youth"
    ADULT = "adult"
    SENIOR = "senior"
    UNSPECIFIED = "unspecified"


class ActivityStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    RETURNED = "returned"


class ReviewAction(StrEnum):
    APPROVE = "approve"
    RETURN = "return"
    REOPEN = "reopen"


class Role(StrEnum):
    FIELD_EXPERT = "field_expert"
    COUNTRY_OFFICER = "country_officer"
    HQ_ANALYST = "hq_analyst"
    ADMIN = "admin"


MODALITY_NAMES: dict[Modality, str] = {
    Modality.POLICY: "Policy support",
    Modality.TECHNICAL: "Technical cooperation",
    Modality.KNOWLEDGE: "Knowledge sharing",
}

LEVEL_NAMES: dict[Level, str] = {
    Level.POLICY: "Policy",
    Level.INSTITUTIONAL: "Institutional",
    Level.COMMUNITY: "Community (grassroots)",
}

PROJECT_KIND_NAMES: dict[ProjectKind, str] = {
    ProjectKind.CPP: "Country Pilot Project",
    ProjectKind.DAA: (
        "Demonstration in Africa/Asia/Latin America by Africans/Asians/Latin Americans"
    ),
}

AGE_BAND_YEARS: dict[AgeBand, tuple[int, int] | None] = {
    AgeBand.YOUTH: (15, 35),
    AgeBand.ADULT: (36, 59),
    AgeBand.SENIOR: (60, 150),
    AgeBand.UNSPECIFIED: None,
}


@dataclass(frozen=True, slots=True)
class ThematicArea:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Solution:
    code: str
    name: str
    thematic_area: str
    modalities: tuple[Modality, ...]


@dataclass(frozen=True, slots=True)
class Topic:
    code: str
    name: str
    solution: str


THEMATIC_AREAS: dict[str, ThematicArea] = {
    ta.code: ta
    for ta in (
        ThematicArea("TA1", "Value Chain Development for Smallholders"),
        ThematicArea("TA2", "Post-harvest Loss Management and Food Systems"),
        ThematicArea("TA3", "Disaster Risk Reduction and Climate Change Resilience"),
        ThematicArea("TA4", "Innovative Poverty Alleviation Initiative"),
    )
}

_P, _T, _K = Modality.POLICY, Modality.TECHNICAL, Modality.KNOWLEDGE

SOLUTIONS: dict[str, Solution] = {
    s.code: s
    for s in (
        Solution(
            "S1",
            "Rural E-commerce Development and Smallholder Marketing Capacity",
            "TA1",
            (_P, _T, _K),
        ),
        Solution("S2", "Farmer Aggregation and Organisations Enhancement", "TA1", (_P, _T, _K)),
        Solution(
            "S3",
            "Agricultural Industrialisation and Entrepreneurship Fostering for "
            "Rural Transformation",
            "TA1",
            (_T, _K),
        ),
        Solution("S4", "National Grain Reserve and Storage Management", "TA2", (_P, _K)),
        Solution("S5", "Post-harvest Loss Management to Support Smallholders", "TA2", (_T, _K)),
        Solution("S6", "Disaster Risk Reduction Management", "TA3", (_P, _T, _K)),
        Solution(
            "S7", "Climate Adaptation for Smallholders to Improve Rural Livelihood", "TA3", (_T, _K)
        ),
        Solution("S8", "Holistic Poverty Reduction Policy Support", "TA4", (_P, _K)),
        Solution("S9", "Innovative Poverty Reduction Practices", "TA4", (_T, _K)),
    )
}

_TOPIC_NAMES: dict[str, tuple[str, ...]] = {
    "S1": (
        "Rural E-commerce Development: Policy and Practice",
        "Rural E-commerce: Concept and Operation Model",
        "Digitalized Countryside: Digital Technology in Rural Development",
    ),
    "S2": (
        "National agricultural technology extension system and new vocational farmer training",
        "Fostering leading farmers in agricultural and rural development",
        "Women's empowerment for rural development",
    ),
    "S3": (
        "Agrobusiness and rural entrepreneurship development",
        "Micro-finance and credit service in rural China",
        "Integrated farming and diversified agribusiness management",
    ),
    "S4": (
        "National grain reserve and storage management: policy and management",
        "Grain storage facilities building and the management",
        "E-trading platform for grain",
    ),
    "S5": (
        "Post-harvest loss reduction and storage of key crops in Western Africa "
        "(e.g. maize, millet, cassava)",
        "Post-harvest loss management and storage system in tropical agriculture",
    ),
    "S6": (
        "Disaster risk reduction and mitigation policy system",
        "Technical measures and management of disaster risk reduction and mitigation in "
        "tropical agriculture",
        "Post-disaster resumption",
    ),
    "S7": (
        "Low-carbon and emission reduction in agriculture and new energy use",
        "Solar water-saving irrigation facilitating diversified operation development for "
        "smallholder farmers",
        "Risk transfer mechanism through insurance and rural financial support against adverse "
        "effects of climate change",
    ),
    "S8": (
        "Poverty reduction for rural transformation",
        "Public support system for poverty reduction",
        "Social protection for the most vulnerable",
    ),
    "S9": (
        "E-commerce for rural poverty reduction",
        "Innovative model for poverty reduction",
    ),
}

TOPICS: dict[str, Topic] = {
    f"{solution}.T{n}": Topic(f"{solution}.T{n}", name, solution)
    for solution, names in _TOPIC_NAMES.items()
    for n, name in enumerate(names, start=1)
}


def solutions_of(thematic_area: str) -> list[Solution]:
    """The solutions of one thematic area, in catalogue order."""
    return [s for s in SOLUTIONS.values() if s.thematic_area == thematic_area]


def topics_of(solutions: list[str] | tuple[str, ...]) -> list[Topic]:
    """The topics that belong to any of the given solutions, in catalogue order."""
    wanted = set(solutions)
    return [t for t in TOPICS.values() if t.solution in wanted]


def thematic_area_of_topic(topic: str) -> str | None:
    """The thematic area a topic code belongs to, or None for an unknown code."""
    found = TOPICS.get(topic)
    return SOLUTIONS[found.solution].thematic_area if found else None


def codes(enum: type[StrEnum]) -> list[str]:
    """The codes of a vocabulary, in declaration order (for choices and error messages)."""
    return [member.value for member in enum]
