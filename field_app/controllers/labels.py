"""Human names of the catalogue's codes, in the current language, for pickers and lists."""

from __future__ import annotations

from field_app.i18n import N_, _
from shared.catalogue import SOLUTIONS, THEMATIC_AREAS, TOPICS
from shared.geography import COUNTRIES

ACTIVITY_TYPES: dict[str, str] = {
    "demonstration": N_("Demonstration"),
    "farmer_training": N_("Farmer training"),
    "field_day": N_("Field day"),
    "workshop": N_("Workshop"),
    "seminar": N_("Seminar"),
    "webinar": N_("Webinar"),
    "study_tour": N_("Study tour"),
    "exchange_visit": N_("Exchange visit"),
    "expert_deployment": N_("Expert deployment"),
    "farmer_to_farmer": N_("Farmer to farmer"),
    "roundtable": N_("Roundtable"),
    "high_level_visit": N_("High-level visit"),
    "research": N_("Research"),
    "other": N_("Other"),
}
MODALITIES: dict[str, str] = {
    "P": N_("Policy support"),
    "T": N_("Technical cooperation"),
    "K": N_("Knowledge sharing"),
}
LEVELS: dict[str, str] = {
    "L1": N_("Policy"),
    "L2": N_("Institutional"),
    "L3": N_("Community (grassroots)"),
}
DELIVERIES: dict[str, str] = {
    "in_person": N_("In person"),
    "online": N_("Online"),
    "hybrid": N_("Hybrid"),
}
VALUE_CHAIN_STAGES: dict[str, str] = {
    "production": N_("Production"),
    "storage": N_("Storage"),
    "processing": N_("Processing"),
    "marketing": N_("Marketing"),
}
CATEGORIES: dict[str, str] = {
    "farmer": N_("Farmers"),
    "technician": N_("Technicians"),
    "official": N_("Officials"),
    "other": N_("Others"),
}
SEXES: dict[str, str] = {
    "female": N_("Women"),
    "male": N_("Men"),
    "unspecified": N_("Not stated"),
}
AGE_BANDS: dict[str, str] = {
    "youth": N_("Youth 15–35"),
    "adult": N_("Adult 36–59"),
    "senior": N_("Senior 60+"),
    "unspecified": N_("Age not stated"),
}
RECORD_STATES: dict[str, str] = {
    "pending": N_("pending"),
    "synced": N_("synced"),
    # Synced, and the server signed a receipt for this version and every photo of it.
    "safe": N_("safe"),
    "photos_pending": N_("photos pending"),
    "returned": N_("returned"),
    "conflict": N_("conflict"),
    "rejected": N_("rejected"),
}
# The account's role, as the dashboard names it (Settings showed "amina (field_expert)").
ROLES: dict[str, str] = {
    "field_expert": N_("Field expert"),
    "country_officer": N_("Country officer"),
    "hq_analyst": N_("HQ analyst"),
    "admin": N_("Administrator"),
}
INDICATORS: dict[str, str] = {
    "ACTIVITIES": N_("Activities"),
    "DEMONSTRATIONS": N_("Demonstrations"),
    "TRAININGS": N_("Farmer trainings"),
    "PARTICIPANTS": N_("Participants"),
    "WOMEN_PARTICIPANTS": N_("Women participants"),
    "WOMEN_SHARE": N_("Women's share"),
    "YOUTH_PARTICIPANTS": N_("Young participants"),
    "PWD_PARTICIPANTS": N_("Participants with a disability"),
    "UNIQUE_PARTICIPANTS": N_("Unique participants"),
    "COUNTRIES_REACHED": N_("Countries reached"),
    "EXPERT_DAYS": N_("Expert days"),
    "TARGET_ACHIEVEMENT": N_("Target achievement"),
}
# The catalogue's names are English; these are their translations' message ids.
THEMATIC_AREA_NAMES: dict[str, str] = {code: N_(ta.name) for code, ta in THEMATIC_AREAS.items()}
SOLUTION_NAMES: dict[str, str] = {code: N_(s.name) for code, s in SOLUTIONS.items()}
TOPIC_NAMES: dict[str, str] = {code: N_(t.name) for code, t in TOPICS.items()}
COUNTRY_NAMES: dict[str, str] = {iso3: N_(c.name) for iso3, c in COUNTRIES.items()}


def label(names: dict[str, str], code: str | None) -> str:
    """The translated name of ``code`` in one of the tables above; the code itself if unknown."""
    if code is None:
        return ""
    name = names.get(code)
    return _(name) if name is not None else code


def choices(names: dict[str, str], allowed: list[str] | None = None) -> list[tuple[str, str]]:
    """``(code, translated name)`` pairs in catalogue order, optionally only the allowed codes."""
    return [(code, _(name)) for code, name in names.items() if allowed is None or code in allowed]


def topic_label(code: str) -> str:
    return f"{code} · {label(TOPIC_NAMES, code)}"
