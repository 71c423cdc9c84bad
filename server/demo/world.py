"""The demo world as plain data, drawn from one seed: no database here.

The projects are grounded in the two seed documents: the FAO note on One Country One Priority
Product (potato in Lesotho, banana in Malawi, jackfruit in Bangladesh, cocoa in Trinidad and
Tobago, date palm in Egypt, sweet cherry in Uzbekistan) and the WFP China Centre of Excellence
report (post-harvest storage in West Africa, solar irrigation, rural e-commerce, grain reserves,
disaster risk reduction, poverty reduction; partners such as MARA, NAFRA, MEM and IPRCC). Sites
sit at real district towns. Everything else (people, activities, attendance) is invented, drawn
from ``random.Random`` seeded by the seed, the size and the project, so the same seed and the
same ``today`` always give the same world.
"""

from __future__ import annotations

import random
import statistics
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from server import __version__
from shared.catalogue import (
    SOLUTIONS,
    TOPICS,
    AgeBand,
    Modality,
    ParticipantCategory,
    Role,
    Sex,
)
from shared.geography import in_country_bbox
from shared.validation import ProjectFacts, SiteFacts, quality_flags

DEFAULT_SEED = 2026


@dataclass(frozen=True, slots=True)
class Size:
    activities: int
    roster: int  # registered participants per roster-mode project


SIZES: dict[str, Size] = {
    "tiny": Size(activities=200, roster=30),  # for tests
    "small": Size(activities=3_000, roster=200),
    "large": Size(activities=100_000, roster=2_500),  # about 1 000 000 attendance rows
}


# --- what the world is made of ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoProject:
    id: uuid.UUID
    code: str
    name: str
    kind: str
    country: str
    thematic_area: str
    solutions: tuple[str, ...]
    partners: tuple[str, ...]
    priority_product: str | None
    start_date: date
    end_date: date
    roster: bool

    def record(self) -> dict[str, Any]:
        """The project as it travels (docs/product.md#domain names)."""
        return {
            "id": str(self.id),
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "country": self.country,
            "thematic_area": self.thematic_area,
            "solutions": list(self.solutions),
            "partners": list(self.partners),
            "priority_product": self.priority_product,
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat(),
        }

    def facts(self) -> ProjectFacts:
        return ProjectFacts(
            id=str(self.id),
            country=self.country,
            solutions=self.solutions,
            start_date=self.start_date,
            end_date=self.end_date,
        )


@dataclass(frozen=True, slots=True)
class DemoSite:
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    admin_area: str
    lat: float
    lon: float

    def record(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "project_id": str(self.project_id),
            "name": self.name,
            "admin_area": self.admin_area,
            "lat": self.lat,
            "lon": self.lon,
        }

    def facts(self) -> SiteFacts:
        return SiteFacts(
            id=str(self.id), project_id=str(self.project_id), lat=self.lat, lon=self.lon
        )


@dataclass(frozen=True, slots=True)
class DemoTarget:
    id: uuid.UUID
    project_id: uuid.UUID
    indicator: str
    period: str
    value: float
    sex: str | None

    def record(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "project_id": str(self.project_id),
            "indicator": self.indicator,
            "period": self.period,
            "value": self.value,
            "sex": self.sex,
        }


@dataclass(frozen=True, slots=True)
class DemoParticipant:
    id: uuid.UUID
    project_id: uuid.UUID
    code: str
    sex: str
    birth_year: int
    category: str
    disability: bool

    def record(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "project_id": str(self.project_id),
            "code": self.code,
            "sex": self.sex,
            "birth_year": self.birth_year,
            "category": self.category,
            "disability": self.disability,
        }


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A login. Its password is made when the world is loaded, never here."""

    username: str
    role: str
    full_name: str
    countries: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()  # project codes (field experts)

    @property
    def scope(self) -> str:
        if self.role == Role.FIELD_EXPERT:
            return ", ".join(self.projects)
        if self.role == Role.COUNTRY_OFFICER:
            return ", ".join(self.countries)
        return "all countries" + (" (read only)" if self.role == Role.HQ_ANALYST else "")


@dataclass(frozen=True, slots=True)
class DemoDevice:
    """A tablet a field expert enrolled, so the Tablets page has something to show.

    Its token is made and thrown away when the world is loaded: no demo tablet can really sync;
    a newcomer enrols the tablet app with a fresh code (README, "Try the tablet app").
    """

    id: uuid.UUID
    username: str
    label: str  # as the app names itself: the model and six hex digits
    app_version: str
    enrolled_at: datetime
    revoked_at: datetime | None = None  # a lost tablet, replaced by a new one
    # Its last pull, for a tablet still in use; the load makes last_seen_at no earlier than
    # its last push, and counts its pushes into last_seq.
    pulled_at: datetime | None = None

    def sent(self, username: str, received_at: datetime) -> bool:
        """Whether this tablet sent the activity ``username`` pushed at ``received_at``."""
        return (
            username == self.username
            and self.enrolled_at <= received_at
            and (self.revoked_at is None or received_at < self.revoked_at)
        )


@dataclass(frozen=True, slots=True)
class DemoReview:
    action: str  # approve | return
    comment: str
    reviewer: str  # username of the country officer
    at: datetime


@dataclass(frozen=True, slots=True)
class DemoActivity:
    """An activity as its field expert pushed it, and what the country office did with it."""

    data: dict[str, Any]  # wire record, status "submitted" (what the tablet sent)
    author: str  # username of the field expert
    received_at: datetime  # when it reached the server (UTC)
    flags: list[dict[str, Any]]  # data-quality warnings the server found on arrival
    review: DemoReview | None
    device_id: uuid.UUID | None = None  # the tablet that pushed it

    @property
    def status(self) -> str:
        if self.review is None:
            return "submitted"
        return "approved" if self.review.action == "approve" else "returned"


# --- the hand-written part: projects from the seeds, at real places ----------------------------


@dataclass(frozen=True, slots=True)
class _Practice:
    topic: str
    stage: str | None  # OCOP value-chain stage
    phrase: str
    # field: a technique one can demonstrate; market: organisation, marketing or finance;
    # policy: a matter for ministries
    use: str = "field"


@dataclass(frozen=True, slots=True)
class _Place:
    name: str
    admin_area: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class _ProjectPlan:
    code: str
    name: str
    kind: str
    country: str
    thematic_area: str
    solutions: tuple[str, ...]
    partners: tuple[str, ...]
    priority_product: str | None
    start: date
    end: date
    utc_offset: float  # hours, for the tablets' local clock
    women_share: float  # share of women among participants, varies between projects
    weight: float  # how busy the project is, relative to the others
    places: tuple[_Place, ...]
    practices: tuple[_Practice, ...]
    policy: tuple[str, ...]  # subjects of roundtables and studies
    study_places: tuple[str, ...]  # where in China study tours go
    roster: bool = False
    field_experts: int = 1
    type_weights: Mapping[str, float] | None = None
    sex_targets: bool = False  # participant targets split by sex


def _d(text: str) -> date:
    return date.fromisoformat(text)


_P = _Practice
_S = _Place

_PLANS: tuple[_ProjectPlan, ...] = (
    _ProjectPlan(
        code="LSO-OCOP-POTATO",
        name="OCOP potato value chain pilot in Lesotho",
        kind="CPP",
        country="LSO",
        thematic_area="TA1",
        solutions=("S2", "S3"),
        partners=("MARA", "FAO", "Ministry of Agriculture, Food Security and Nutrition"),
        priority_product="potato",
        start=_d("2024-01-01"),
        end=_d("2027-12-31"),
        utc_offset=2,
        women_share=0.52,
        weight=1.5,
        roster=True,
        field_experts=2,
        sex_targets=True,
        places=(
            _S("Maseru seed potato demonstration plot", "Maseru", -29.31, 27.48),
            _S("Leribe farmer field school", "Leribe", -28.87, 28.05),
            _S("Mafeteng potato aggregation centre", "Mafeteng", -29.82, 27.24),
            _S("Mohale's Hoek demonstration plot", "Mohale's Hoek", -30.15, 27.48),
            _S("Butha-Buthe highland seed plot", "Butha-Buthe", -28.77, 28.25),
        ),
        practices=(
            _P("S2.T1", "production", "seed potato multiplication from mini-tubers"),
            _P("S2.T1", "production", "ridge planting and fertiliser placement"),
            _P("S2.T1", "production", "late blight scouting and control"),
            _P("S2.T2", "production", "lead-farmer seed potato plots"),
            _P("S2.T3", "marketing", "women's potato marketing groups", "market"),
            _P("S3.T1", "processing", "potato crisp processing for small enterprises"),
            _P("S3.T3", "storage", "diffuse-light seed potato storage"),
            _P("S3.T2", "marketing", "input credit for potato growers", "market"),
        ),
        policy=("seed potato certification", "the national potato sector strategy"),
        study_places=("Dingxi, Gansu", "Zhaotong, Yunnan"),
    ),
    _ProjectPlan(
        code="MWI-OCOP-BANANA",
        name="OCOP banana value chain demonstration in Malawi",
        kind="CPP",
        country="MWI",
        thematic_area="TA1",
        solutions=("S2", "S3"),
        partners=("MARA", "FAO", "Ministry of Agriculture, Irrigation and Water Development"),
        priority_product="banana",
        start=_d("2024-03-01"),
        end=_d("2027-06-30"),
        utc_offset=2,
        women_share=0.45,
        weight=1.3,
        roster=True,
        field_experts=2,
        places=(
            _S("Nkhata Bay banana nursery", "Nkhata Bay", -11.61, 34.29),
            _S("Thyolo tissue-culture demonstration plot", "Thyolo", -16.07, 35.14),
            _S("Mulanje banana farmer field school", "Mulanje", -16.03, 35.50),
            _S("Karonga ripening and packing shed", "Karonga", -9.93, 33.93),
        ),
        practices=(
            _P("S2.T1", "production", "hardening of tissue-culture banana plantlets"),
            _P("S2.T1", "production", "banana bunchy top disease control"),
            _P("S2.T2", "production", "de-suckering and plant spacing"),
            _P("S2.T3", "marketing", "women's banana marketing cooperatives", "market"),
            _P("S3.T1", "processing", "ripening rooms and grading"),
            _P("S3.T1", "processing", "dried banana and banana flour"),
            _P("S3.T3", "production", "banana intercropping with legumes"),
        ),
        policy=("banana planting material regulations", "clean-seed systems for banana"),
        study_places=("Nanning, Guangxi", "Haikou, Hainan"),
    ),
    _ProjectPlan(
        code="BGD-OCOP-JACKFRUIT",
        name="OCOP jackfruit value chain pilot in Bangladesh",
        kind="CPP",
        country="BGD",
        thematic_area="TA1",
        solutions=("S1", "S3"),
        partners=("MARA", "FAO", "Department of Agricultural Extension"),
        priority_product="jackfruit",
        start=_d("2024-07-01"),
        end=_d("2027-06-30"),
        utc_offset=6,
        women_share=0.38,
        weight=1.1,
        places=(
            _S("Kapasia jackfruit orchard", "Gazipur", 24.10, 90.57),
            _S("Madhupur processing centre", "Tangail", 24.61, 90.03),
            _S("Rangamati hill orchard", "Rangamati", 22.65, 92.17),
            _S("Narsingdi collection point", "Narsingdi", 23.92, 90.72),
        ),
        practices=(
            _P("S1.T1", "marketing", "online sales of fresh jackfruit", "market"),
            _P("S1.T2", "marketing", "packaging and grading for e-commerce"),
            _P("S1.T3", "marketing", "digital market price information", "market"),
            _P("S3.T1", "processing", "jackfruit chips and pulp processing"),
            _P("S3.T1", "processing", "minimal processing of green jackfruit"),
            _P("S3.T3", "production", "jackfruit grafting and orchard management"),
            _P("S3.T2", "marketing", "micro-credit for jackfruit processors", "market"),
        ),
        policy=("jackfruit export standards", "support for agro-processing enterprises"),
        study_places=("Haikou, Hainan", "Zhanjiang, Guangdong"),
    ),
    _ProjectPlan(
        code="TTO-OCOP-COCOA",
        name="OCOP fine-flavour cocoa pilot in Trinidad and Tobago",
        kind="CPP",
        country="TTO",
        thematic_area="TA1",
        solutions=("S1", "S3"),
        partners=(
            "FAO",
            "MARA",
            "Ministry of Agriculture, Land and Fisheries",
            "Cocoa Research Centre, UWI",
        ),
        priority_product="cocoa",
        start=_d("2024-01-15"),
        end=_d("2027-12-31"),
        utc_offset=-4,
        women_share=0.41,
        weight=0.8,
        places=(
            _S("Gran Couva cocoa estate", "Couva-Tabaquite-Talparo", 10.39, -61.37),
            _S("Brasso Seco cocoa cooperative", "Tunapuna-Piarco", 10.75, -61.26),
            _S("Sangre Grande rehabilitation plots", "Sangre Grande", 10.59, -61.13),
            _S("Roxborough cocoa fermentary", "Tobago", 11.25, -60.58),
        ),
        practices=(
            _P("S3.T3", "production", "cocoa rehabilitation pruning and grafting"),
            _P("S3.T3", "production", "black pod disease management"),
            _P("S3.T1", "processing", "fermentation and solar drying of fine-flavour cocoa"),
            _P("S3.T1", "processing", "bean-to-bar chocolate making"),
            _P("S1.T2", "marketing", "online sales of artisan chocolate", "market"),
            _P("S1.T1", "marketing", "origin branding for fine-flavour cocoa", "market"),
            _P("S1.T3", "marketing", "digital traceability of cocoa lots", "market"),
        ),
        policy=("a geographical indication for Trinidad cocoa", "cocoa sector revitalisation"),
        study_places=("Wanning, Hainan",),
    ),
    _ProjectPlan(
        code="EGY-OCOP-DATEPALM",
        name="OCOP date palm value chain pilot in Egypt",
        kind="CPP",
        country="EGY",
        thematic_area="TA1",
        solutions=("S2", "S3"),
        partners=("FAO", "MARA", "Ministry of Agriculture and Land Reclamation"),
        priority_product="date palm",
        start=_d("2023-10-01"),
        end=_d("2027-03-31"),
        utc_offset=2,
        women_share=0.27,
        weight=1.0,
        places=(
            _S("Siwa Oasis date palm orchard", "Matrouh", 29.20, 25.52),
            _S("Kharga demonstration farm", "New Valley", 25.44, 30.55),
            _S("Bahariya date packing house", "Giza", 28.35, 28.86),
            _S("Aswan date processing unit", "Aswan", 24.09, 32.90),
        ),
        practices=(
            _P("S2.T1", "production", "artificial pollination of date palms"),
            _P("S2.T1", "production", "red palm weevil monitoring and trapping"),
            _P("S2.T2", "production", "fruit thinning and bunch bagging"),
            _P("S2.T3", "processing", "women's date processing groups", "market"),
            _P("S3.T1", "processing", "date paste and syrup processing"),
            _P("S3.T1", "storage", "cold storage and fumigation of dates"),
            _P("S3.T3", "production", "reclamation of salt-affected soil"),
        ),
        policy=("date palm quarantine rules", "export grading standards for dates"),
        study_places=("Turpan, Xinjiang",),
    ),
    _ProjectPlan(
        code="UZB-OCOP-CHERRY",
        name="OCOP sweet cherry pilot in Uzbekistan",
        kind="CPP",
        country="UZB",
        thematic_area="TA1",
        solutions=("S2", "S3"),
        partners=("FAO", "MARA", "Ministry of Agriculture of Uzbekistan"),
        priority_product="sweet cherry",
        start=_d("2024-04-01"),
        end=_d("2027-03-31"),
        utc_offset=5,
        women_share=0.33,
        weight=0.8,
        places=(
            _S("Samarkand cherry orchard", "Samarkand", 39.65, 66.96),
            _S("Namangan intensive orchard", "Namangan", 41.00, 71.67),
            _S("Fergana cold store", "Fergana", 40.38, 71.79),
            _S("Andijan fruit nursery", "Andijan", 40.78, 72.34),
        ),
        practices=(
            _P("S2.T1", "production", "high-density cherry orchard establishment"),
            _P("S2.T1", "production", "drip fertigation for cherries"),
            _P("S2.T2", "production", "rootstock and nursery management"),
            _P("S3.T1", "storage", "hydro-cooling and cold chain for cherries"),
            _P("S3.T1", "marketing", "export grading and packing"),
            _P("S3.T3", "production", "hail nets and frost protection"),
        ),
        policy=("phytosanitary rules for cherry exports",),
        study_places=("Yantai, Shandong",),
    ),
    _ProjectPlan(
        code="NGA-DAA-HERMETIC",
        name="Hermetic storage for maize and cassava smallholders in northern Nigeria",
        kind="DAA",
        country="NGA",
        thematic_area="TA2",
        solutions=("S5",),
        partners=("NAFRA", "WFP", "Federal Ministry of Agriculture and Food Security"),
        priority_product="maize",
        start=_d("2023-06-01"),
        end=_d("2026-05-31"),
        utc_offset=1,
        women_share=0.48,
        weight=1.3,
        roster=True,
        field_experts=2,
        places=(
            _S("Kano hermetic storage demonstration", "Kano", 12.00, 8.52),
            _S("Zaria farmer field school", "Kaduna", 11.08, 7.71),
            _S("Minna aggregation warehouse", "Niger", 9.61, 6.56),
            _S("Kaduna drying platform", "Kaduna", 10.52, 7.44),
        ),
        practices=(
            _P("S5.T1", "storage", "hermetic bag storage of maize"),
            _P("S5.T1", "storage", "maize drying and moisture testing"),
            _P("S5.T1", "processing", "mechanised shelling to cut grain damage"),
            _P("S5.T1", "storage", "aflatoxin prevention in stored maize"),
            _P("S5.T1", "processing", "cassava chipping and sun drying"),
            _P("S5.T2", "storage", "metal silo use and maintenance"),
        ),
        policy=("aflatoxin standards for stored grain",),
        study_places=("Zhengzhou, Henan",),
    ),
    _ProjectPlan(
        code="GHA-DAA-CASSAVA",
        name="Post-harvest loss reduction for cassava and maize in Ghana",
        kind="DAA",
        country="GHA",
        thematic_area="TA2",
        solutions=("S5",),
        partners=("NAFRA", "WFP", "Ministry of Food and Agriculture"),
        priority_product="cassava",
        start=_d("2024-02-01"),
        end=_d("2027-01-31"),
        utc_offset=0,
        women_share=0.57,
        weight=0.9,
        places=(
            _S("Tamale drying yard", "Northern", 9.40, -0.84),
            _S("Techiman aggregation centre", "Bono East", 7.59, -1.94),
            _S("Ejura storage demonstration", "Ashanti", 7.38, -1.36),
            _S("Wenchi cassava processing centre", "Bono", 7.74, -2.10),
        ),
        practices=(
            _P("S5.T1", "processing", "cassava peeling and grating equipment"),
            _P("S5.T1", "processing", "hygienic gari roasting"),
            _P("S5.T1", "storage", "hermetic storage of maize"),
            _P("S5.T2", "storage", "solar drying of cassava chips"),
            _P("S5.T2", "storage", "warehouse stacking and pest control"),
        ),
        policy=("standards for gari and cassava flour",),
        study_places=("Nanning, Guangxi",),
    ),
    _ProjectPlan(
        code="SLE-DAA-RICE",
        name="Rice and cassava post-harvest handling in Sierra Leone",
        kind="DAA",
        country="SLE",
        thematic_area="TA2",
        solutions=("S5",),
        partners=("WFP", "NAFRA", "Ministry of Agriculture and Food Security"),
        priority_product="rice",
        start=_d("2024-05-01"),
        end=_d("2027-04-30"),
        utc_offset=0,
        women_share=0.63,
        weight=0.8,
        places=(
            _S("Bo rice parboiling centre", "Bo", 7.96, -11.74),
            _S("Kenema farmer field school", "Kenema", 7.88, -11.19),
            _S("Makeni storage demonstration", "Bombali", 8.89, -12.04),
            _S("Moyamba cassava processing centre", "Moyamba", 8.16, -12.43),
        ),
        practices=(
            _P("S5.T2", "processing", "improved rice parboiling"),
            _P("S5.T2", "storage", "hermetic storage of milled rice"),
            _P("S5.T1", "processing", "cassava processing into gari and fufu"),
            _P("S5.T2", "storage", "tarpaulin drying to cut rice losses"),
            _P("S5.T2", "processing", "rice milling and de-stoning"),
        ),
        policy=("local rice procurement for school meals",),
        study_places=("Changsha, Hunan",),
    ),
    _ProjectPlan(
        code="KEN-CPP-SOLAR",
        name="Solar water-saving irrigation for smallholders in Kenya",
        kind="CPP",
        country="KEN",
        thematic_area="TA3",
        solutions=("S7",),
        partners=("MARA", "MEE", "Ministry of Agriculture and Livestock Development"),
        priority_product="vegetables",
        start=_d("2023-09-01"),
        end=_d("2026-08-31"),
        utc_offset=3,
        women_share=0.44,
        weight=1.2,
        roster=True,
        field_experts=2,
        sex_targets=True,
        places=(
            _S("Machakos solar irrigation scheme", "Machakos", -1.52, 37.26),
            _S("Wote drip demonstration farm", "Makueni", -1.78, 37.63),
            _S("Kitui solar pump site", "Kitui", -1.37, 38.01),
            _S("Kajiado greenhouse cluster", "Kajiado", -1.85, 36.78),
            _S("Isiolo water users' association", "Isiolo", 0.35, 37.58),
        ),
        practices=(
            _P("S7.T2", "production", "solar pump installation and maintenance"),
            _P("S7.T2", "production", "drip kit layout and water scheduling"),
            _P("S7.T2", "production", "diversified vegetable production under drip"),
            _P("S7.T1", "production", "biogas and low-carbon farming"),
            _P("S7.T3", None, "weather index insurance for irrigated plots", "market"),
        ),
        policy=("county irrigation policy", "financing for solar irrigation"),
        study_places=("Yinchuan, Ningxia",),
    ),
    _ProjectPlan(
        code="ZMB-DAA-SOLAR",
        name="Solar irrigation demonstration for smallholders in Zambia",
        kind="DAA",
        country="ZMB",
        thematic_area="TA3",
        solutions=("S7",),
        partners=("WFP", "MEE", "Ministry of Agriculture (Zambia)"),
        priority_product="tomato",
        start=_d("2024-06-01"),
        end=_d("2027-05-31"),
        utc_offset=2,
        women_share=0.40,
        weight=0.8,
        places=(
            _S("Chongwe solar irrigation demonstration", "Chongwe", -15.33, 28.68),
            _S("Mazabuka vegetable cluster", "Mazabuka", -15.86, 27.76),
            _S("Monze conservation farm", "Monze", -16.28, 27.48),
            _S("Chipata water point", "Chipata", -13.64, 32.65),
        ),
        practices=(
            _P("S7.T2", "production", "solar pump installation and maintenance"),
            _P("S7.T2", "production", "drip irrigation for tomatoes"),
            _P("S7.T1", "production", "conservation agriculture and residue retention"),
            _P("S7.T3", None, "crop insurance and savings groups", "market"),
        ),
        policy=("smallholder irrigation subsidies",),
        study_places=("Yinchuan, Ningxia",),
    ),
    _ProjectPlan(
        code="RWA-CPP-ECOMMERCE",
        name="Rural e-commerce and smallholder marketing in Rwanda",
        kind="CPP",
        country="RWA",
        thematic_area="TA1",
        solutions=("S1", "S2"),
        partners=(
            "MARA",
            "FAO",
            "Ministry of Agriculture and Animal Resources (MINAGRI)",
            "Rwanda Development Board",
        ),
        priority_product="avocado",
        start=_d("2024-01-01"),
        end=_d("2026-12-31"),
        utc_offset=2,
        women_share=0.58,
        weight=1.0,
        places=(
            _S("Musanze e-commerce service centre", "Musanze", -1.50, 29.63),
            _S("Huye cooperative hub", "Huye", -2.60, 29.74),
            _S("Rwamagana collection centre", "Rwamagana", -1.95, 30.43),
            _S("Nyagatare farmer cooperative", "Nyagatare", -1.30, 30.33),
            _S("Kigali logistics hub", "Kigali", -1.95, 30.06),
        ),
        practices=(
            _P("S1.T1", "marketing", "village e-commerce service points", "market"),
            _P("S1.T2", "marketing", "online shop setup and product listing"),
            _P("S1.T2", "marketing", "product photography and packaging"),
            _P("S1.T3", "marketing", "mobile payments and digital records", "market"),
            _P("S1.T2", "storage", "parcel logistics and cold chain for avocado"),
            _P("S2.T2", "production", "lead farmers as e-commerce champions", "market"),
            _P("S2.T3", "marketing", "digital marketing skills for women", "market"),
        ),
        policy=("the national rural e-commerce strategy", "rural logistics regulation"),
        study_places=("Lishui, Zhejiang", "Hangzhou, Zhejiang"),
    ),
    _ProjectPlan(
        code="LKA-DAA-ECOMMERCE",
        name="E-commerce for rural poverty reduction in Sri Lanka",
        kind="DAA",
        country="LKA",
        thematic_area="TA4",
        solutions=("S9",),
        partners=("IPRCC", "WFP", "Ministry of Agriculture, Livestock, Lands and Irrigation"),
        priority_product="spices",
        start=_d("2024-09-01"),
        end=_d("2027-08-31"),
        utc_offset=5.5,
        women_share=0.50,
        weight=0.7,
        places=(
            _S("Monaragala women's spice collective", "Monaragala", 6.87, 81.35),
            _S("Badulla e-commerce centre", "Badulla", 6.99, 81.06),
            _S("Anuradhapura farmer group", "Anuradhapura", 8.31, 80.40),
            _S("Kurunegala packing hub", "Kurunegala", 7.49, 80.36),
        ),
        practices=(
            _P("S9.T1", "marketing", "selling spices online from the village"),
            _P("S9.T1", "marketing", "live-stream selling"),
            _P("S9.T1", "processing", "cinnamon grading and packing"),
            _P("S9.T2", "marketing", "village savings and e-commerce cooperatives", "market"),
            _P("S9.T2", "production", "home gardens for poor households"),
        ),
        policy=("targeting e-commerce support at poor households",),
        study_places=("Longnan, Gansu",),
    ),
    _ProjectPlan(
        code="ETH-CPP-GRAINRESERVE",
        name="National grain reserve and storage management support to Ethiopia",
        kind="CPP",
        country="ETH",
        thematic_area="TA2",
        solutions=("S4",),
        partners=("NAFRA", "WFP", "Emergency Food Security Reserve Administration"),
        priority_product="wheat",
        start=_d("2023-04-01"),
        end=_d("2026-03-31"),
        utc_offset=3,
        women_share=0.30,
        weight=0.6,
        type_weights={
            "workshop": 25,
            "farmer_training": 12,
            "seminar": 12,
            "roundtable": 12,
            "study_tour": 8,
            "webinar": 8,
            "research": 6,
            "expert_deployment": 6,
            "exchange_visit": 5,
            "high_level_visit": 3,
        },
        places=(
            _S("Addis Ababa reserve headquarters", "Addis Ababa", 9.03, 38.74),
            _S("Adama central warehouse", "Oromia", 8.54, 39.27),
            _S("Bahir Dar grain depot", "Amhara", 11.59, 37.39),
            _S("Hawassa storage complex", "Sidama", 7.06, 38.48),
            _S("Mekelle grain depot", "Tigray", 13.50, 39.47),
        ),
        practices=(
            _P("S4.T1", "storage", "stock rotation in the strategic reserve", "policy"),
            _P("S4.T1", None, "reserve release rules for emergencies", "policy"),
            _P("S4.T2", "storage", "warehouse fumigation and pest management"),
            _P("S4.T2", "storage", "grain quality testing at intake"),
            _P("S4.T2", "storage", "on-farm storage for farmers who supply the reserve"),
            _P("S4.T3", "marketing", "an e-trading platform for grain", "market"),
        ),
        policy=("the strategic food reserve law", "reserve size and release triggers"),
        study_places=("Beijing (Sinograin)", "Zhengzhou, Henan"),
    ),
    _ProjectPlan(
        code="MOZ-CPP-DRR",
        name="Disaster risk reduction for farming communities in Sofala, Mozambique",
        kind="CPP",
        country="MOZ",
        thematic_area="TA3",
        solutions=("S6",),
        partners=(
            "MEM",
            "NDRCC",
            "WFP",
            "National Institute for Disaster Risk Management and Reduction (INGD)",
        ),
        priority_product="maize",
        start=_d("2023-07-01"),
        end=_d("2027-06-30"),
        utc_offset=2,
        women_share=0.49,
        weight=0.9,
        places=(
            _S("Buzi resettlement village", "Buzi", -19.87, 34.62),
            _S("Nhamatanda community plots", "Nhamatanda", -19.29, 34.21),
            _S("Caia flood early-warning post", "Caia", -17.83, 35.34),
            _S("Chimoio seed fair ground", "Manica", -19.12, 33.48),
            _S("Beira coordination centre", "Sofala", -19.84, 34.84),
        ),
        practices=(
            _P("S6.T1", None, "district disaster risk reduction plans", "policy"),
            _P("S6.T2", "production", "flood-tolerant and early-maturing maize"),
            _P("S6.T2", "storage", "raised granaries for flood-prone villages"),
            _P("S6.T2", None, "community early-warning committees", "market"),
            _P("S6.T3", "production", "seed fairs for post-cyclone recovery"),
        ),
        policy=("anticipatory action before cyclones", "disaster risk financing"),
        study_places=("Guangzhou, Guangdong",),
    ),
    _ProjectPlan(
        code="TLS-CPP-POVERTY",
        name="Holistic poverty reduction support in Timor-Leste",
        kind="CPP",
        country="TLS",
        thematic_area="TA4",
        solutions=("S8", "S9"),
        partners=("IPRCC", "WFP", "Ministry of Agriculture, Livestock, Fisheries and Forestry"),
        priority_product="rice",
        start=_d("2024-03-01"),
        end=_d("2027-02-28"),
        utc_offset=9,
        women_share=0.53,
        weight=0.6,
        places=(
            _S("Dili policy unit", "Dili", -8.56, 125.57),
            _S("Baucau rice cooperative", "Baucau", -8.47, 126.45),
            _S("Ermera farmer group", "Ermera", -8.72, 125.44),
            _S("Maliana irrigation scheme", "Bobonaro", -8.99, 125.22),
        ),
        practices=(
            _P("S8.T1", None, "targeting the rural poor", "policy"),
            _P("S8.T2", None, "a public support system for poverty reduction", "policy"),
            _P("S8.T3", None, "social protection for the most vulnerable", "policy"),
            _P("S9.T2", "production", "a cooperative rice production model"),
            _P("S9.T1", "marketing", "selling coffee and rice online", "market"),
        ),
        policy=("the national poverty reduction strategy", "social protection targeting"),
        study_places=("Guiyang, Guizhou",),
    ),
)

# Country officers and national counterparts: (women's names, men's names, family names).
_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "LSO": (
        ("Palesa", "Lineo", "Mpho"),
        ("Thabo", "Teboho", "Tsepo"),
        ("Mokoena", "Mohapi", "Letsie", "Molapo", "Ramakau"),
    ),
    "MWI": (
        ("Chikondi", "Tiwonge", "Grace"),
        ("Chisomo", "Kondwani", "Blessings"),
        ("Banda", "Phiri", "Mwale", "Chirwa", "Nyirenda"),
    ),
    "BGD": (
        ("Nusrat", "Farzana", "Shirin"),
        ("Rahim", "Kamal", "Tanvir"),
        ("Hossain", "Rahman", "Akter", "Islam", "Chowdhury"),
    ),
    "TTO": (
        ("Kimberly", "Anisha", "Candice"),
        ("Darren", "Ravi", "Marlon"),
        ("Ramdial", "Joseph", "Baptiste", "Mohammed", "Charles"),
    ),
    "EGY": (
        ("Mona", "Heba", "Yasmin"),
        ("Ahmed", "Mahmoud", "Karim"),
        ("Hassan", "Mostafa", "Abdel Aziz", "Farouk", "Salem"),
    ),
    "UZB": (
        ("Dilnoza", "Malika", "Gulnora"),
        ("Bekzod", "Jasur", "Rustam"),
        ("Karimov", "Yusupov", "Rakhimov", "Tursunov", "Nazarov"),
    ),
    "NGA": (
        ("Aisha", "Ngozi", "Fatima"),
        ("Ibrahim", "Chinedu", "Musa"),
        ("Bello", "Okafor", "Abubakar", "Adeyemi", "Danjuma"),
    ),
    "GHA": (
        ("Akosua", "Abena", "Efua"),
        ("Kwame", "Kofi", "Yaw"),
        ("Mensah", "Owusu", "Boateng", "Asante", "Addo"),
    ),
    "SLE": (
        ("Fatmata", "Isatu", "Mariama"),
        ("Mohamed", "Abu", "Alusine"),
        ("Kamara", "Sesay", "Koroma", "Conteh", "Bangura"),
    ),
    "KEN": (
        ("Wanjiru", "Achieng", "Mwende"),
        ("Kiprono", "Otieno", "Mutua"),
        ("Kamau", "Odhiambo", "Mwangi", "Kiptoo", "Musyoka"),
    ),
    "ZMB": (
        ("Mwila", "Chanda", "Bupe"),
        ("Mulenga", "Bwalya", "Chilufya"),
        ("Phiri", "Banda", "Tembo", "Zulu", "Mwansa"),
    ),
    "RWA": (
        ("Aline", "Claudine", "Diane"),
        ("Eric", "Jean Paul", "Olivier"),
        ("Uwimana", "Nshimiyimana", "Hakizimana", "Mukeshimana", "Niyonzima"),
    ),
    "LKA": (
        ("Nadeesha", "Chathurika", "Dilani"),
        ("Kasun", "Nuwan", "Ruwan"),
        ("Perera", "Fernando", "Silva", "Bandara", "Jayasinghe"),
    ),
    "ETH": (
        ("Hiwot", "Meron", "Selam"),
        ("Abebe", "Dawit", "Tesfaye"),
        ("Bekele", "Tadesse", "Girma", "Haile", "Alemu"),
    ),
    "MOZ": (
        ("Ana", "Celeste", "Graca"),
        ("Joao", "Armando", "Tomas"),
        ("Macuacua", "Mondlane", "Sitoe", "Cossa", "Nhantumbo"),
    ),
    "TLS": (
        ("Maria", "Joana", "Rosa"),
        ("Jose", "Agostinho", "Francisco"),
        ("da Costa", "Soares", "Pereira", "Guterres", "Ximenes"),
    ),
}
# Chinese experts (invented names).
_EXPERTS = (
    "Chen Hao",
    "Wang Fang",
    "Liu Yang",
    "Zhao Lei",
    "Sun Li",
    "Zhou Jie",
    "Wu Min",
    "Huang Xin",
    "Xu Tao",
    "Ma Lan",
    "Guo Qiang",
    "He Ying",
    "Lin Feng",
    "Tang Yu",
    "Gao Jing",
    "Luo Bin",
    "Zheng Hui",
    "Han Mei",
)
_VISITORS = (
    "Minister of Agriculture",
    "FAO Representative",
    "WFP Country Director",
    "Ambassador of China",
    "Permanent Secretary for Agriculture",
)
_NOTES = (
    "Attendance taken from the signed register.",
    "Rain in the afternoon; the practical session was shortened.",
    "Follow-up visit planned for next month.",
    "Inputs distributed to the participating farmers.",
    "Translated into the local language by the extension officer.",
    "Several participants asked for a second session.",
    "Photos of the plots taken before and after.",
)
_RETURN_COMMENTS = (
    "Attendance looks high for this activity: please check the register.",
    "Please attach a photo of the attendance sheet.",
    "Choose the demonstration site; it is missing.",
    "Women and men counts look swapped; please confirm.",
    "Is this the same session as the one reported the day before? Please check.",
    "The topic does not match the title: please correct one of them.",
)

# How each activity type runs: modalities it can serve (preferred first), attendance range,
# duration in days, participant mix (farmer, technician, official, other), level.
_MODALITIES: dict[str, tuple[str, ...]] = {
    "demonstration": ("T",),
    "farmer_training": ("T", "K"),
    "field_day": ("T", "K"),
    "workshop": ("T", "K", "P"),
    "seminar": ("K", "T"),
    "webinar": ("K",),
    "study_tour": ("T", "K"),
    "exchange_visit": ("T", "K", "P"),
    "expert_deployment": ("T", "P"),
    "farmer_to_farmer": ("T",),
    "roundtable": ("P", "K"),
    "high_level_visit": ("P", "K"),
    "research": ("P", "K"),
    "other": ("K", "T", "P"),
}
_ATTENDANCE: dict[str, tuple[int, int]] = {
    "demonstration": (15, 60),
    "farmer_training": (15, 45),
    "field_day": (40, 200),
    "workshop": (10, 40),
    "seminar": (15, 60),
    "webinar": (20, 150),
    "study_tour": (8, 25),
    "exchange_visit": (6, 20),
    "expert_deployment": (2, 15),
    "farmer_to_farmer": (8, 30),
    "roundtable": (8, 25),
    "high_level_visit": (10, 40),
    "research": (4, 15),
    "other": (5, 30),
}
_DAYS: dict[str, tuple[int, int]] = {
    "workshop": (1, 3),
    "seminar": (1, 2),
    "study_tour": (5, 12),
    "exchange_visit": (2, 5),
    "expert_deployment": (7, 30),
    "research": (10, 45),
}
_COMMUNITY = ("demonstration", "farmer_training", "field_day", "farmer_to_farmer")
_POLICY_LIKE = ("roundtable", "high_level_visit", "research")
_USES: dict[str, tuple[str, ...]] = {
    "demonstration": ("field",),
    "field_day": ("field",),
    "farmer_to_farmer": ("field",),
    "farmer_training": ("field", "market"),
    "roundtable": ("policy", "market"),
    "research": ("policy", "market"),
}
_MIX: dict[str, tuple[float, float, float, float]] = {
    **{t: (0.88, 0.08, 0.02, 0.02) for t in _COMMUNITY},
    "workshop": (0.35, 0.35, 0.25, 0.05),
    "seminar": (0.2, 0.4, 0.3, 0.1),
    "webinar": (0.15, 0.45, 0.25, 0.15),
    "study_tour": (0.3, 0.35, 0.35, 0.0),
    "exchange_visit": (0.6, 0.25, 0.15, 0.0),
    "expert_deployment": (0.2, 0.6, 0.2, 0.0),
    "roundtable": (0.0, 0.2, 0.75, 0.05),
    "high_level_visit": (0.3, 0.1, 0.55, 0.05),
    "research": (0.1, 0.6, 0.3, 0.0),
    "other": (0.5, 0.2, 0.1, 0.2),
}
_TYPE_WEIGHTS: dict[str, float] = {
    "demonstration": 20,
    "farmer_training": 22,
    "field_day": 8,
    "workshop": 9,
    "seminar": 4,
    "webinar": 4,
    "study_tour": 2,
    "exchange_visit": 2,
    "expert_deployment": 5,
    "farmer_to_farmer": 10,
    "roundtable": 3,
    "high_level_visit": 1,
    "research": 2,
    "other": 2,
}
_TITLES: dict[str, tuple[str, ...]] = {
    "demonstration": (
        "Demonstration: {practice}",
        "On-farm demonstration of {practice}",
        "{practice} demonstration at {site}",
    ),
    "farmer_training": (
        "Farmer training: {practice}",
        "Training of farmers in {practice}",
        "Farmer field school session: {practice}",
    ),
    "field_day": ("Field day at {site}: {practice}", "{product} field day: {practice}"),
    "workshop": (
        "Workshop on {practice}",
        "Training-of-trainers workshop: {practice}",
        "Stakeholder workshop: {practice}",
    ),
    "seminar": ("Seminar on {practice}", "Technical seminar: {practice}"),
    "webinar": ("Cloud School webinar: {practice}", "Webinar: {practice}"),
    "study_tour": ("Study tour to {place}: {practice}",),
    "exchange_visit": ("Exchange visit to {site}: {practice}",),
    "expert_deployment": ("Chinese expert mission on {practice}", "Expert deployment: {practice}"),
    "farmer_to_farmer": ("Farmer-to-farmer learning: {practice}", "Lead farmers share {practice}"),
    "roundtable": ("Policy roundtable on {policy}", "Roundtable: {policy}"),
    "high_level_visit": ("Visit of the {visitor} to {site}", "High-level visit: {practice}"),
    "research": ("Study on {policy}", "Baseline survey: {practice}"),
    "other": ("Handover of equipment at {site}", "Community meeting at {site}: {practice}"),
}
_SEXES = (Sex.FEMALE.value, Sex.MALE.value, Sex.UNSPECIFIED.value)
_AGE_BANDS = tuple(a.value for a in AgeBand)
_CATEGORIES = tuple(c.value for c in ParticipantCategory)


# --- the world -------------------------------------------------------------------------------


@dataclass
class World:
    seed: int
    size: str
    today: date
    projects: list[DemoProject]
    sites: list[DemoSite]
    targets: list[DemoTarget]
    participants: list[DemoParticipant]
    users: list[DemoUser]
    activity_counts: dict[str, int]  # project code -> number of activities
    devices: list[DemoDevice] = field(default_factory=list)
    _plans: dict[str, _ProjectPlan] = field(repr=False, default_factory=dict)

    @property
    def activity_total(self) -> int:
        return sum(self.activity_counts.values())

    def project(self, code: str) -> DemoProject:
        return next(p for p in self.projects if p.code == code)

    def sites_of(self, project: DemoProject) -> list[DemoSite]:
        return [s for s in self.sites if s.project_id == project.id]

    def participants_of(self, project: DemoProject) -> list[DemoParticipant]:
        return [p for p in self.participants if p.project_id == project.id]

    def activities(self) -> Iterator[DemoActivity]:
        """Every activity, project by project; drawn lazily (the large world is big)."""
        for project in self.projects:
            yield from self.project_activities(project)

    def project_activities(self, project: DemoProject) -> list[DemoActivity]:
        return _draw_activities(self, project, self._plans[project.code])

    def utc_offset(self, project: DemoProject) -> float:
        """Hours east of UTC of the project's tablets' clocks."""
        return self._plans[project.code].utc_offset

    def device_of(self, username: str, received_at: datetime) -> uuid.UUID | None:
        return next((d.id for d in self.devices if d.sent(username, received_at)), None)


def build_world(*, seed: int = DEFAULT_SEED, size: str = "small", today: date) -> World:
    """The demo world for ``seed`` and ``size`` as of ``today`` (activities end before it)."""
    if size not in SIZES:
        raise ValueError(f"unknown demo size {size!r}; sizes are {', '.join(SIZES)}")
    rng = random.Random(f"pilotmon-demo:{seed}")
    plans = {plan.code: plan for plan in _PLANS}
    projects = [_project(rng, plan) for plan in _PLANS]
    sites = [
        _site(rng, project, place)
        for project, plan in zip(projects, _PLANS, strict=True)
        for place in plan.places
    ]
    counts = _activity_counts(projects, plans, SIZES[size].activities, today)
    participants = [
        participant
        for project, plan in zip(projects, _PLANS, strict=True)
        if plan.roster
        for participant in _roster(seed, size, project, plan)
    ]
    targets = [
        target
        for project, plan in zip(projects, _PLANS, strict=True)
        for target in _targets(rng, project, plan, counts[project.code], today, SIZES[size].roster)
    ]
    users = _users(rng, projects, plans)
    devices = _devices(seed, projects, users, plans, today)
    return World(
        seed=seed,
        size=size,
        today=today,
        projects=projects,
        sites=sites,
        targets=targets,
        participants=participants,
        users=users,
        activity_counts=counts,
        devices=devices,
        _plans=plans,
    )


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _project(rng: random.Random, plan: _ProjectPlan) -> DemoProject:
    return DemoProject(
        id=_uuid(rng),
        code=plan.code,
        name=plan.name,
        kind=plan.kind,
        country=plan.country,
        thematic_area=plan.thematic_area,
        solutions=plan.solutions,
        partners=plan.partners,
        priority_product=plan.priority_product,
        start_date=plan.start,
        end_date=plan.end,
        roster=plan.roster,
    )


def _site(rng: random.Random, project: DemoProject, place: _Place) -> DemoSite:
    # A plot near the town, not the town centre itself (about 2 km at most).
    lat = round(place.lat + rng.uniform(-0.02, 0.02), 5)
    lon = round(place.lon + rng.uniform(-0.02, 0.02), 5)
    return DemoSite(
        id=_uuid(rng),
        project_id=project.id,
        name=place.name,
        admin_area=place.admin_area,
        lat=lat,
        lon=lon,
    )


def _window(project: DemoProject, today: date) -> tuple[date, date]:
    """The days on which the project's activities fall: its dates, up to yesterday."""
    return project.start_date, min(project.end_date, today - timedelta(days=1))


def _activity_counts(
    projects: Sequence[DemoProject], plans: Mapping[str, _ProjectPlan], total: int, today: date
) -> dict[str, int]:
    """Share ``total`` between projects by how busy and how long running each one is."""
    weights = {}
    for project in projects:
        start, end = _window(project, today)
        weights[project.code] = plans[project.code].weight * max(0, (end - start).days + 1)
    whole = sum(weights.values())
    if whole == 0:
        return {code: 0 for code in weights}
    exact = {code: total * w / whole for code, w in weights.items()}
    counts = {code: int(value) for code, value in exact.items()}
    # Largest remainders get the activities that rounding down left over.
    left = total - sum(counts.values())
    for code in sorted(exact, key=lambda c: exact[c] - counts[c], reverse=True)[:left]:
        counts[code] += 1
    return counts


def _roster(
    seed: int, size: str, project: DemoProject, plan: _ProjectPlan
) -> list[DemoParticipant]:
    rng = random.Random(f"pilotmon-demo:{seed}:{size}:{project.code}:roster")
    people = []
    for n in range(1, SIZES[size].roster + 1):
        age = int(rng.triangular(16, 78, 32))
        people.append(
            DemoParticipant(
                id=_uuid(rng),
                project_id=project.id,
                code=f"{project.country}-{n:06d}",
                sex="female" if rng.random() < plan.women_share else "male",
                birth_year=project.start_date.year - age,
                category=rng.choices(("farmer", "technician", "other"), (90, 7, 3))[0],
                disability=rng.random() < 0.03,
            )
        )
    return people


def _type_weights(plan: _ProjectPlan) -> dict[str, float]:
    """Activity types the project runs, weighted; only types its solutions' modalities allow."""
    allowed = {m.value for s in plan.solutions for m in SOLUTIONS[s].modalities}
    base = dict(plan.type_weights or _TYPE_WEIGHTS)
    if plan.kind == "DAA" and plan.type_weights is None:
        base["demonstration"] *= 1.6  # DAA is in-field technical demonstration first
    return {t: w for t, w in base.items() if set(_MODALITIES[t]) & allowed}


def _nice(value: float) -> float:
    """A target a planner would write: whole, and rounded to 5 or 10 when large."""
    if value < 20:
        return float(max(1, round(value)))
    if value < 200:
        return float(5 * round(value / 5))
    return float(10 * round(value / 10))


def _targets(
    rng: random.Random,
    project: DemoProject,
    plan: _ProjectPlan,
    count: int,
    today: date,
    roster_size: int,
) -> list[DemoTarget]:
    """Yearly targets over the project's life, and quarterly ones for the current year."""
    start, end = _window(project, today)
    per_day = count / max(1, (end - start).days + 1)
    weights = _type_weights(plan)
    whole = sum(weights.values())
    cap = roster_size if plan.roster else None

    def mean_attendance(kind: str) -> float:
        low, high = _ATTENDANCE[kind]
        mean = (low + high) / 2
        return min(mean, cap) if cap is not None and kind in _COMMUNITY else mean

    per_activity = sum(w * mean_attendance(t) for t, w in weights.items()) / whole
    targets: list[DemoTarget] = []

    def add(indicator: str, period: str, value: float, sex: str | None = None) -> None:
        if value > 0:
            targets.append(
                DemoTarget(
                    id=_uuid(rng),
                    project_id=project.id,
                    indicator=indicator,
                    period=period,
                    value=_nice(value),
                    sex=sex,
                )
            )

    for year in range(project.start_date.year, project.end_date.year + 1):
        first = max(project.start_date, date(year, 1, 1))
        last = min(project.end_date, date(year, 12, 31))
        activities = per_day * ((last - first).days + 1) * rng.uniform(0.9, 1.25)
        participants = activities * per_activity
        period = str(year)
        add("ACTIVITIES", period, activities)
        add("DEMONSTRATIONS", period, activities * weights.get("demonstration", 0) / whole)
        add("TRAININGS", period, activities * weights.get("farmer_training", 0) / whole)
        if plan.sex_targets:
            add("PARTICIPANTS", period, participants * plan.women_share, "female")
            add("PARTICIPANTS", period, participants * (1 - plan.women_share), "male")
        else:
            add("PARTICIPANTS", period, participants)
            add("WOMEN_PARTICIPANTS", period, participants * max(plan.women_share, 0.4))
        if plan.roster:
            add("UNIQUE_PARTICIPANTS", period, roster_size * rng.uniform(0.6, 0.8))
        if year == today.year and plan.kind == "CPP":
            for quarter in range(1, 5):
                q_first = max(first, date(year, 3 * quarter - 2, 1))
                q_last = min(last, _quarter_end(year, quarter))
                if q_first <= q_last:
                    add(
                        "ACTIVITIES",
                        f"{year}Q{quarter}",
                        per_day * ((q_last - q_first).days + 1) * rng.uniform(0.9, 1.2),
                    )
    return targets


def _quarter_end(year: int, quarter: int) -> date:
    if quarter == 4:
        return date(year, 12, 31)
    return date(year, 3 * quarter + 1, 1) - timedelta(days=1)


def _person(rng: random.Random, country: str, *, woman: bool | None = None) -> str:
    women, men, families = _NAMES[country]
    if woman is None:
        woman = rng.random() < 0.5
    return f"{rng.choice(women if woman else men)} {rng.choice(families)}"


def _users(
    rng: random.Random, projects: Sequence[DemoProject], plans: Mapping[str, _ProjectPlan]
) -> list[DemoUser]:
    users = [
        DemoUser("admin", Role.ADMIN.value, "Demo administrator"),
        DemoUser("hq.analyst", Role.HQ_ANALYST.value, "Chen Yu (COE monitoring and evaluation)"),
        DemoUser("hq.donor", Role.HQ_ANALYST.value, "Sofia Marin (donor relations)"),
    ]
    countries = list(dict.fromkeys(p.country for p in projects))
    users += [
        DemoUser(f"co.{c.lower()}", Role.COUNTRY_OFFICER.value, _person(rng, c), countries=(c,))
        for c in countries
    ]
    experts = list(_EXPERTS)
    rng.shuffle(experts)
    for index, project in enumerate(projects):
        country = project.country
        for n in range(1, plans[project.code].field_experts + 1):
            # The first is a Chinese expert, the second a national extension officer.
            name = experts[index % len(experts)] if n == 1 else _person(rng, country)
            users.append(
                DemoUser(
                    f"fe.{country.lower()}.{n}",
                    Role.FIELD_EXPERT.value,
                    name,
                    countries=(country,),
                    projects=(project.code,),
                )
            )
    return users


# --- tablets ---------------------------------------------------------------------------------

_TABLET_MODELS = (
    "Galaxy Tab A8",
    "Galaxy Tab A9+",
    "Galaxy Tab Active3",
    "Lenovo Tab M10",
    "Nokia T20",
    "MatePad T10s",
)
APP_VERSION = __version__  # the tablet app and the server are released together


def _devices(
    seed: int,
    projects: Sequence[DemoProject],
    users: Sequence[DemoUser],
    plans: Mapping[str, _ProjectPlan],
    today: date,
) -> list[DemoDevice]:
    """One tablet per field expert, enrolled a little before their project's first activity.

    Tablets of running projects pulled within the last two days; those of finished projects
    went quiet with their last push (the Tablets page calls them silent). The first expert of
    the busiest project lost a tablet half-way: it is revoked and a new one took over.
    """
    rng = random.Random(f"pilotmon-demo:{seed}:tablets")  # apart, so the rest stays as it was
    by_code = {p.code: p for p in projects}
    midnight = datetime.combine(today, time(0), UTC)
    busiest = max(projects, key=lambda p: (p.end_date >= today, plans[p.code].weight)).code
    devices = []
    for user in users:
        if user.role != Role.FIELD_EXPERT:
            continue
        project = by_code[user.projects[0]]
        start, _ = _window(project, today)
        hour = time(rng.randint(8, 11), rng.randint(0, 59))
        enrolled = datetime.combine(start - timedelta(days=rng.randint(3, 20)), hour, UTC)
        running = project.end_date >= today
        if project.code == busiest and user.username.endswith(".1"):
            lost = enrolled + (midnight - enrolled) * rng.uniform(0.45, 0.7)
            lost = lost.replace(second=0, microsecond=0)
            devices.append(_tablet(rng, user, enrolled, revoked_at=lost))
            enrolled = lost  # the country office revoked it and enrolled the new one at once
        pulled = midnight - timedelta(minutes=rng.randint(120, 2400)) if running else None
        devices.append(_tablet(rng, user, enrolled, pulled_at=pulled))
    return devices


def _tablet(rng: random.Random, user: DemoUser, enrolled_at: datetime, **more: Any) -> DemoDevice:
    return DemoDevice(
        id=_uuid(rng),
        username=user.username,
        label=f"{rng.choice(_TABLET_MODELS)} {rng.getrandbits(24):06x}",
        app_version=APP_VERSION,
        enrolled_at=enrolled_at,
        **more,
    )


# --- activities ------------------------------------------------------------------------------


def _draw_activities(world: World, project: DemoProject, plan: _ProjectPlan) -> list[DemoActivity]:
    count = world.activity_counts.get(project.code, 0)
    if count == 0:
        return []
    rng = random.Random(f"pilotmon-demo:{world.seed}:{world.size}:{project.code}:activities")
    sites = world.sites_of(project)
    roster = world.participants_of(project)
    authors = [u.username for u in world.users if project.code in u.projects]
    reviewer = next(
        u.username
        for u in world.users
        if u.role == Role.COUNTRY_OFFICER and project.country in u.countries
    )
    start, end = _window(project, world.today)
    weights = _type_weights(plan)
    kinds, kind_weights = list(weights), list(weights.values())
    span = (end - start).days
    drafts = []
    for _ in range(count):
        kind = rng.choices(kinds, kind_weights)[0]
        day = start + timedelta(days=rng.randint(0, span))
        drafts.append(_draw_one(rng, world, project, plan, kind, day, end, sites, roster))
    drafts.sort(key=lambda d: (d["start_date"], d["id"]))
    midnight = datetime.combine(world.today, time(0), UTC)
    usual = statistics.median(_total(d["attendance"]) for d in drafts)
    site_facts = {str(s.id): s.facts() for s in sites}
    seen: Counter[tuple[Any, ...]] = Counter()
    activities = []
    for data in drafts:
        received = _received_at(rng, data, plan, midnight)
        key = (data["site_id"], data["type"], data["start_date"])
        flags = quality_flags(
            data,
            site=site_facts.get(data["site_id"] or ""),
            same_day_duplicates=seen[key],
            usual_attendance=usual,
            reused_photo=False,
            received_on=received.date(),
        )
        seen[key] += 1
        author = rng.choice(authors)
        activities.append(
            DemoActivity(
                data=data,
                author=author,
                received_at=received,
                flags=[
                    {
                        "code": f.code,
                        "field": f.field,
                        "message": f.message,
                        "params": dict(f.params),
                    }
                    for f in flags
                ],
                review=_review(rng, received, reviewer, midnight),
                device_id=world.device_of(author, received),
            )
        )
    return activities


def _total(rows: Sequence[Mapping[str, Any]]) -> int:
    return sum(int(r["count"]) for r in rows)


def _draw_one(
    rng: random.Random,
    world: World,
    project: DemoProject,
    plan: _ProjectPlan,
    kind: str,
    day: date,
    last_day: date,
    sites: Sequence[DemoSite],
    roster: Sequence[DemoParticipant],
) -> dict[str, Any]:
    """One activity as a field expert would record it on the tablet."""
    practice = _practice(rng, plan, kind)
    solution = SOLUTIONS[TOPICS[practice.topic].solution]
    allowed = {m.value for m in solution.modalities}
    modality = next(m for m in _MODALITIES[kind] if m in allowed)
    low, high = _DAYS.get(kind, (1, 1))
    end_day = min(last_day, day + timedelta(days=rng.randint(low, high) - 1))
    delivery = _delivery(rng, kind)
    site = _site_for(rng, kind, delivery, sites)
    participants = _attendees(rng, kind, roster) if delivery == "in_person" else []
    if participants:
        attendance = _attendance_of(participants, day.year)
    else:
        attendance = _attendance(rng, plan, kind, delivery)
    experts = _experts_count(rng, kind)
    return {
        "id": str(_uuid(rng)),
        "project_id": str(project.id),
        "site_id": str(site.id) if site else None,
        "type": kind,
        "title": _title(rng, plan, kind, practice, site),
        "start_date": day.isoformat(),
        "end_date": end_day.isoformat(),
        "topic": practice.topic,
        "modality": modality,
        "level": _level(rng, kind, modality),
        "delivery": delivery,
        "value_chain_stage": None if kind in _POLICY_LIKE else practice.stage,
        "facilitators": _facilitators(rng, project.country, experts),
        "experts_count": experts,
        "location": _location(rng, project.country, site) if delivery != "online" else None,
        "notes": rng.choice(_NOTES) if rng.random() < 0.3 else "",
        "attendance": attendance,
        "participant_ids": [str(p.id) for p in participants] if participants else None,
        "status": "submitted",
        "captured_at": _captured_at(rng, end_day, plan.utc_offset),
    }


def _practice(rng: random.Random, plan: _ProjectPlan, kind: str) -> _Practice:
    """What the activity is about: a practice whose solution allows one of the type's modalities,
    preferably one that suits the type (nobody demonstrates a credit policy in a field)."""
    fits = [
        p
        for p in plan.practices
        if set(_MODALITIES[kind])
        & {m.value for m in SOLUTIONS[TOPICS[p.topic].solution].modalities}
    ]
    uses = _USES.get(kind)
    suited = [p for p in fits if uses is None or p.use in uses]
    return rng.choice(suited or fits)


def _delivery(rng: random.Random, kind: str) -> str:
    if kind == "webinar":
        return "online"
    hybrid = {"seminar": 0.3, "workshop": 0.1, "roundtable": 0.15}.get(kind, 0.0)
    return "hybrid" if rng.random() < hybrid else "in_person"


def _site_for(
    rng: random.Random, kind: str, delivery: str, sites: Sequence[DemoSite]
) -> DemoSite | None:
    if delivery == "online" or kind == "study_tour" or not sites:
        return None  # study tours happen in China
    if kind == "roundtable" or (kind in ("workshop", "seminar", "research") and rng.random() < 0.6):
        return None  # held in the capital or a hotel, not at a project site
    return rng.choice(sites)


def _location(rng: random.Random, country: str, site: DemoSite | None) -> dict[str, Any] | None:
    if site is None or rng.random() < 0.15:
        return None  # no GPS fix
    if rng.random() < 0.02:
        # Fix taken at the district office instead of the plot: flagged as far from the site.
        lat = site.lat + rng.choice((-1, 1)) * rng.uniform(0.08, 0.2)
        lon = site.lon + rng.choice((-1, 1)) * rng.uniform(0.08, 0.2)
        if in_country_bbox(country, lat, lon, margin_deg=0):
            return {"lat": round(lat, 5), "lon": round(lon, 5), "accuracy_m": 12}
    return {
        "lat": round(site.lat + rng.uniform(-0.008, 0.008), 5),
        "lon": round(site.lon + rng.uniform(-0.008, 0.008), 5),
        "accuracy_m": rng.choice((3, 4, 5, 8, 10, 15, 30)),
    }


def _level(rng: random.Random, kind: str, modality: str) -> str:
    if modality == Modality.POLICY:
        return "L1"
    if kind in _COMMUNITY or kind == "other":
        return "L3"
    if kind == "exchange_visit":
        return "L3" if rng.random() < 0.6 else "L2"
    return "L2"


def _experts_count(rng: random.Random, kind: str) -> int:
    if kind == "expert_deployment":
        return rng.randint(1, 4)
    if kind in ("workshop", "study_tour", "seminar"):
        return rng.randint(1, 3)
    return rng.choice((0, 0, 1, 1, 2))


def _facilitators(rng: random.Random, country: str, experts: int) -> list[str]:
    people = [
        f"{'Ms' if woman else 'Mr'} {_person(rng, country, woman=woman)}"
        for woman in (rng.random() < 0.5 for _ in range(rng.randint(1, 2)))
    ]
    if experts:
        people.insert(0, f"Dr {rng.choice(_EXPERTS)}")
    return people


def _title(
    rng: random.Random, plan: _ProjectPlan, kind: str, practice: _Practice, site: DemoSite | None
) -> str:
    templates = [t for t in _TITLES[kind] if site is not None or "{site}" not in t]
    template = rng.choice(templates or ["{practice}"])
    title = template.format(
        practice=practice.phrase,
        site=site.name if site else "",
        policy=rng.choice(plan.policy),
        place=rng.choice(plan.study_places),
        visitor=rng.choice(_VISITORS),
        product=(plan.priority_product or "project").capitalize(),
    )
    return title[0].upper() + title[1:]


def _attendees(
    rng: random.Random, kind: str, roster: Sequence[DemoParticipant]
) -> list[DemoParticipant]:
    """Roster mode: who came, for the farmer-facing activities of a roster project."""
    if not roster or kind not in _COMMUNITY:
        return []
    low, high = _ATTENDANCE[kind]
    return rng.sample(list(roster), min(len(roster), rng.randint(low, high)))


def _age_band(age: int) -> str:
    if age < 15:
        return "unspecified"
    if age <= 35:
        return "youth"
    return "adult" if age <= 59 else "senior"


def _attendance_of(people: Sequence[DemoParticipant], year: int) -> list[dict[str, Any]]:
    cells = Counter(
        (p.sex, _age_band(year - p.birth_year), p.category, p.disability) for p in people
    )
    return _rows(cells)


def _attendance(
    rng: random.Random, plan: _ProjectPlan, kind: str, delivery: str
) -> list[dict[str, Any]]:
    """Counts over sex × age band × category × disability, plausible for the type."""
    low, high = _ATTENDANCE[kind]
    people = rng.randint(low, high)
    # Officials' delegations have fewer women than farmer groups.
    officials = kind in (*_POLICY_LIKE, "study_tour")
    women = plan.women_share * (0.75 if officials else 1.0) + rng.gauss(0, 0.07)
    women = min(0.95, max(0.05, women))
    unknown_sex = 0.2 if delivery == "online" else 0.0
    sexes = ((1 - unknown_sex) * women, (1 - unknown_sex) * (1 - women), unknown_sex)
    if (delivery == "online" and rng.random() < 0.6) or rng.random() < 0.08:
        ages = (0.0, 0.0, 0.0, 1.0)  # the register had no ages
    elif kind in _COMMUNITY:
        ages = (0.38, 0.47, 0.15, 0.0)
    else:
        ages = (0.25, 0.65, 0.10, 0.0)
    disabled = 0.03 if kind in _COMMUNITY else 0.015
    cells, weights = [], []
    for sex, p_sex in zip(_SEXES, sexes, strict=True):
        for age, p_age in zip(_AGE_BANDS, ages, strict=True):
            for category, p_cat in zip(_CATEGORIES, _MIX[kind], strict=True):
                for disability, p_dis in ((False, 1 - disabled), (True, disabled)):
                    weight = p_sex * p_age * p_cat * p_dis
                    if weight > 0:
                        cells.append((sex, age, category, disability))
                        weights.append(weight)
    return _rows(Counter(rng.choices(cells, weights, k=people)))


def _rows(cells: Counter[tuple[str, str, str, bool]]) -> list[dict[str, Any]]:
    """Attendance rows in a fixed order (sex, age band, category, disability)."""
    order = {value: n for n, value in enumerate((*_SEXES, *_AGE_BANDS, *_CATEGORIES))}
    return [
        {
            "sex": sex,
            "age_band": age,
            "category": category,
            "disability": disability,
            "count": count,
        }
        for (sex, age, category, disability), count in sorted(
            cells.items(),
            key=lambda item: (order[item[0][0]], order[item[0][1]], order[item[0][2]], item[0][3]),
        )
        if count > 0
    ]


def _captured_at(rng: random.Random, day: date, utc_offset: float) -> str:
    """Saved on the tablet in the late afternoon of the last day, local time; sent in UTC."""
    zone = timezone(timedelta(hours=utc_offset))
    moment = datetime.combine(day, time(rng.randint(15, 18), rng.randint(0, 59)), zone)
    return moment.astimezone(UTC).isoformat()


def _received_at(
    rng: random.Random, data: Mapping[str, Any], plan: _ProjectPlan, midnight: datetime
) -> datetime:
    """When the push reached the server: mostly within days, sometimes weeks offline."""
    captured = datetime.fromisoformat(data["captured_at"]).astimezone(UTC)
    roll = rng.random()
    if roll < 0.70:
        lag = rng.uniform(0.05, 3)
    elif roll < 0.90:
        lag = rng.uniform(3, 14)
    elif roll < 0.98:
        lag = rng.uniform(14, 45)
    else:
        lag = rng.uniform(45, 120)
    received = captured + timedelta(days=lag)
    if received >= midnight:  # not in the future: it arrived some time before today
        received = captured + (midnight - captured) * rng.uniform(0.1, 0.9)
    return received


def _review(
    rng: random.Random, received: datetime, reviewer: str, midnight: datetime
) -> DemoReview | None:
    """The country office reviews within days; recent and a few old ones are still pending."""
    at = received + timedelta(days=rng.uniform(0.5, 10))
    if at >= midnight or rng.random() < 0.06:
        return None
    recent = (midnight - at).days < 60
    if rng.random() < (0.10 if recent else 0.03):
        return DemoReview("return", rng.choice(_RETURN_COMMENTS), reviewer, at)
    return DemoReview("approve", "", reviewer, at)
