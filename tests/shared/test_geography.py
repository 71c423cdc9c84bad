"""Regional bureaux, countries, bounding boxes and distances."""

from __future__ import annotations

import pytest

from shared.geography import (
    COUNTRIES,
    REGIONS,
    country_name,
    haversine_km,
    in_country_bbox,
    region_of,
)

# Capitals (seat of government where it differs) of every country we list: each must fall inside
# its country's box with no margin at all, which checks every bbox against a known point.
CAPITALS: dict[str, tuple[str, float, float]] = {
    # RBB
    "AFG": ("Kabul", 34.53, 69.17),
    "BGD": ("Dhaka", 23.81, 90.41),
    "BTN": ("Thimphu", 27.47, 89.64),
    "KHM": ("Phnom Penh", 11.56, 104.92),
    "CHN": ("Beijing", 39.90, 116.41),
    "PRK": ("Pyongyang", 39.04, 125.76),
    "FJI": ("Suva", -18.14, 178.44),
    "IND": ("New Delhi", 28.61, 77.21),
    "IDN": ("Jakarta", -6.21, 106.85),
    "LAO": ("Vientiane", 17.97, 102.63),
    "MDV": ("Malé", 4.18, 73.51),
    "MMR": ("Naypyidaw", 19.76, 96.08),
    "NPL": ("Kathmandu", 27.72, 85.32),
    "PAK": ("Islamabad", 33.68, 73.05),
    "PNG": ("Port Moresby", -9.44, 147.18),
    "PHL": ("Manila", 14.60, 120.98),
    "WSM": ("Apia", -13.83, -171.76),
    "SLB": ("Honiara", -9.43, 159.95),
    "LKA": ("Colombo", 6.93, 79.86),
    "TLS": ("Dili", -8.56, 125.57),
    "TON": ("Nuku'alofa", -21.14, -175.20),
    "VUT": ("Port Vila", -17.73, 168.32),
    "VNM": ("Hanoi", 21.03, 105.85),
    # RBC
    "DZA": ("Algiers", 36.75, 3.06),
    "ARM": ("Yerevan", 40.18, 44.51),
    "EGY": ("Cairo", 30.04, 31.24),
    "GEO": ("Tbilisi", 41.72, 44.79),
    "IRN": ("Tehran", 35.69, 51.39),
    "IRQ": ("Baghdad", 33.31, 44.36),
    "JOR": ("Amman", 31.95, 35.93),
    "KGZ": ("Bishkek", 42.87, 74.59),
    "LBN": ("Beirut", 33.89, 35.50),
    "LBY": ("Tripoli", 32.89, 13.19),
    "MDA": ("Chisinau", 47.01, 28.86),
    "MAR": ("Rabat", 34.02, -6.83),
    "PSE": ("Ramallah", 31.90, 35.20),
    "SYR": ("Damascus", 33.51, 36.29),
    "TJK": ("Dushanbe", 38.56, 68.77),
    "TUN": ("Tunis", 36.81, 10.18),
    "TUR": ("Ankara", 39.93, 32.86),
    "UKR": ("Kyiv", 50.45, 30.52),
    "UZB": ("Tashkent", 41.30, 69.24),
    "YEM": ("Sana'a", 15.37, 44.19),
    # RBD
    "BEN": ("Porto-Novo", 6.50, 2.60),
    "BFA": ("Ouagadougou", 12.37, -1.52),
    "CPV": ("Praia", 14.93, -23.51),
    "CMR": ("Yaoundé", 3.85, 11.50),
    "CAF": ("Bangui", 4.39, 18.56),
    "TCD": ("N'Djamena", 12.13, 15.06),
    "COG": ("Brazzaville", -4.27, 15.28),
    "CIV": ("Yamoussoukro", 6.83, -5.29),
    "GNQ": ("Malabo", 3.75, 8.78),
    "GAB": ("Libreville", 0.42, 9.47),
    "GMB": ("Banjul", 13.45, -16.58),
    "GHA": ("Accra", 5.60, -0.19),
    "GIN": ("Conakry", 9.64, -13.58),
    "GNB": ("Bissau", 11.86, -15.60),
    "LBR": ("Monrovia", 6.30, -10.80),
    "MLI": ("Bamako", 12.64, -8.00),
    "MRT": ("Nouakchott", 18.08, -15.98),
    "NER": ("Niamey", 13.51, 2.11),
    "NGA": ("Abuja", 9.08, 7.40),
    "STP": ("São Tomé", 0.34, 6.73),
    "SEN": ("Dakar", 14.69, -17.45),
    "SLE": ("Freetown", 8.48, -13.23),
    "TGO": ("Lomé", 6.13, 1.22),
    # RBJ
    "AGO": ("Luanda", -8.84, 13.23),
    "BWA": ("Gaborone", -24.65, 25.91),
    "COM": ("Moroni", -11.70, 43.26),
    "COD": ("Kinshasa", -4.32, 15.31),
    "SWZ": ("Mbabane", -26.31, 31.14),
    "LSO": ("Maseru", -29.31, 27.48),
    "MDG": ("Antananarivo", -18.88, 47.51),
    "MWI": ("Lilongwe", -13.96, 33.79),
    "MUS": ("Port Louis", -20.16, 57.50),
    "MOZ": ("Maputo", -25.97, 32.57),
    "NAM": ("Windhoek", -22.56, 17.08),
    "ZAF": ("Pretoria", -25.75, 28.19),
    "TZA": ("Dodoma", -6.16, 35.75),
    "ZMB": ("Lusaka", -15.39, 28.32),
    "ZWE": ("Harare", -17.83, 31.05),
    # RBN
    "BDI": ("Gitega", -3.43, 29.93),
    "DJI": ("Djibouti", 11.59, 43.15),
    "ERI": ("Asmara", 15.32, 38.93),
    "ETH": ("Addis Ababa", 9.03, 38.74),
    "KEN": ("Nairobi", -1.29, 36.82),
    "RWA": ("Kigali", -1.95, 30.06),
    "SOM": ("Mogadishu", 2.05, 45.32),
    "SSD": ("Juba", 4.85, 31.58),
    "SDN": ("Khartoum", 15.50, 32.56),
    "UGA": ("Kampala", 0.35, 32.58),
    # RBP
    "ATG": ("St John's", 17.12, -61.85),
    "BRB": ("Bridgetown", 13.10, -59.61),
    "BLZ": ("Belmopan", 17.25, -88.77),
    "BOL": ("La Paz", -16.50, -68.15),
    "BRA": ("Brasília", -15.79, -47.88),
    "COL": ("Bogotá", 4.71, -74.07),
    "CUB": ("Havana", 23.11, -82.37),
    "DMA": ("Roseau", 15.30, -61.39),
    "DOM": ("Santo Domingo", 18.49, -69.93),
    "ECU": ("Quito", -0.18, -78.47),
    "SLV": ("San Salvador", 13.69, -89.22),
    "GRD": ("St George's", 12.06, -61.75),
    "GTM": ("Guatemala City", 14.63, -90.51),
    "GUY": ("Georgetown", 6.80, -58.16),
    "HTI": ("Port-au-Prince", 18.59, -72.31),
    "HND": ("Tegucigalpa", 14.07, -87.19),
    "JAM": ("Kingston", 17.97, -76.79),
    "NIC": ("Managua", 12.11, -86.24),
    "PAN": ("Panama City", 8.98, -79.52),
    "PRY": ("Asunción", -25.26, -57.58),
    "PER": ("Lima", -12.05, -77.04),
    "LCA": ("Castries", 14.01, -60.99),
    "VCT": ("Kingstown", 13.16, -61.22),
    "SUR": ("Paramaribo", 5.85, -55.20),
    "TTO": ("Port of Spain", 10.66, -61.51),
    "VEN": ("Caracas", 10.49, -66.88),
}


def test_six_regional_bureaux() -> None:
    assert sorted(REGIONS) == ["RBB", "RBC", "RBD", "RBJ", "RBN", "RBP"]
    assert all(region.code == code and region.name for code, region in REGIONS.items())


def test_every_country_is_in_exactly_one_region() -> None:
    listed = [iso3 for region in REGIONS.values() for iso3 in region.countries]
    assert len(listed) == len(set(listed))
    assert set(listed) == set(COUNTRIES)
    for code, region in REGIONS.items():
        assert all(COUNTRIES[iso3].region == code for iso3 in region.countries)


@pytest.mark.parametrize(
    ("iso3", "region"),
    [
        ("CHN", "RBB"),
        ("BGD", "RBB"),
        ("EGY", "RBC"),
        ("UZB", "RBC"),
        ("NGA", "RBD"),
        ("SEN", "RBD"),
        ("COG", "RBD"),
        ("LSO", "RBJ"),
        ("MWI", "RBJ"),
        ("MDG", "RBJ"),
        ("KEN", "RBN"),
        ("SSD", "RBN"),
        ("TTO", "RBP"),
        ("PER", "RBP"),
    ],
)
def test_region_of(iso3: str, region: str) -> None:
    assert region_of(iso3) == region


def test_region_of_unknown_country_is_none() -> None:
    assert region_of("XXX") is None


def test_country_names_fall_back_to_the_code() -> None:
    assert country_name("LSO") == "Lesotho"
    assert country_name("CIV") == "Côte d'Ivoire"
    assert country_name("XXX") == "XXX"


def test_codes_are_iso3_shaped() -> None:
    for iso3, country in COUNTRIES.items():
        assert len(iso3) == 3 and iso3.isupper() and iso3.isalpha()
        assert country.iso3 == iso3 and country.name


@pytest.mark.parametrize("iso3", sorted(COUNTRIES))
def test_bbox_is_sane(iso3: str) -> None:
    min_lat, min_lon, max_lat, max_lon = COUNTRIES[iso3].bbox
    assert -90 <= min_lat < max_lat <= 90
    assert -180 <= min_lon < max_lon <= 180
    # No developing country spans more than 45 degrees of latitude or 65 of longitude.
    assert max_lat - min_lat < 45 and max_lon - min_lon < 65


def test_every_country_has_a_capital_to_check() -> None:
    assert set(CAPITALS) == set(COUNTRIES)


@pytest.mark.parametrize("iso3", sorted(CAPITALS))
def test_capital_inside_its_country_box(iso3: str) -> None:
    _, lat, lon = CAPITALS[iso3]
    assert in_country_bbox(iso3, lat, lon, margin_deg=0)


@pytest.mark.parametrize(
    ("iso3", "capital_of"),
    [
        ("LSO", "KEN"),
        ("BOL", "PER"),
        ("BGD", "CHN"),
        ("TTO", "VEN"),
        ("GMB", "SEN"),
        ("EGY", "SDN"),
        ("MWI", "ZMB"),
    ],
)
def test_neighbouring_capital_outside_the_box(iso3: str, capital_of: str) -> None:
    _, lat, lon = CAPITALS[capital_of]
    assert not in_country_bbox(iso3, lat, lon, margin_deg=0)


def test_lesotho_box_is_realistic() -> None:
    min_lat, min_lon, max_lat, max_lon = COUNTRIES["LSO"].bbox
    assert -31.0 < min_lat < -30.4 and -28.8 < max_lat < -28.4
    assert 26.8 < min_lon < 27.2 and 29.2 < max_lon < 29.7


def test_margin_widens_the_box() -> None:
    min_lat, min_lon, _, _ = COUNTRIES["LSO"].bbox
    assert not in_country_bbox("LSO", min_lat - 0.3, min_lon, margin_deg=0)
    assert in_country_bbox("LSO", min_lat - 0.3, min_lon)  # default margin 0.5
    assert not in_country_bbox("LSO", min_lat - 0.6, min_lon)


def test_unknown_country_cannot_be_judged() -> None:
    assert in_country_bbox("XXX", 0.0, 0.0)


@pytest.mark.parametrize(
    ("a", "b", "km", "tolerance"),
    [
        ((-29.31, 27.48), (-26.20, 28.05), 360, 20),  # Maseru - Johannesburg
        ((-1.29, 36.82), (0.35, 32.58), 505, 15),  # Nairobi - Kampala
        ((0.0, 0.0), (0.0, 90.0), 10_007.5, 1),  # a quarter of the equator
        ((10.0, 20.0), (10.0, 20.0), 0, 1e-9),
    ],
)
def test_haversine_known_distances(
    a: tuple[float, float], b: tuple[float, float], km: float, tolerance: float
) -> None:
    assert haversine_km(*a, *b) == pytest.approx(km, abs=tolerance)
    assert haversine_km(*b, *a) == pytest.approx(haversine_km(*a, *b))
