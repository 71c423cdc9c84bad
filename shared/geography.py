"""WFP regional bureaux, the developing countries each one serves, and small geographic helpers.

Countries are ISO 3166-1 alpha-3 codes; each belongs to exactly one bureau. Bounding boxes are
approximate (about 0.1 degree) and cover the mainland and the main islands, enough to catch a
site typed into the wrong country or a GPS fix with swapped signs. Standard library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    countries: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Country:
    iso3: str
    name: str
    region: str
    bbox: tuple[float, float, float, float]  # (min_lat, min_lon, max_lat, max_lon)


_REGION_NAMES: dict[str, str] = {
    "RBB": "Asia and the Pacific (Bangkok)",
    "RBC": "Middle East, Northern Africa, Eastern Europe and Central Asia (Cairo)",
    "RBD": "Western and Central Africa (Dakar)",
    "RBJ": "Southern Africa (Johannesburg)",
    "RBN": "Eastern Africa (Nairobi)",
    "RBP": "Latin America and the Caribbean (Panama)",
}

# (iso3, name, bbox as (min_lat, min_lon, max_lat, max_lon)), per bureau, by name.
_BBoxRow = tuple[str, str, tuple[float, float, float, float]]
_COUNTRY_ROWS: dict[str, tuple[_BBoxRow, ...]] = {
    "RBB": (
        ("AFG", "Afghanistan", (29.36, 60.47, 38.49, 74.89)),
        ("BGD", "Bangladesh", (20.59, 88.01, 26.63, 92.68)),
        ("BTN", "Bhutan", (26.70, 88.75, 28.36, 92.13)),
        ("KHM", "Cambodia", (9.91, 102.33, 14.69, 107.63)),
        ("CHN", "China", (18.16, 73.50, 53.56, 134.77)),
        ("PRK", "DPR Korea", (37.67, 124.18, 43.01, 130.70)),
        ("FJI", "Fiji", (-19.30, 176.80, -16.00, 180.00)),  # Viti Levu and Vanua Levu
        ("IND", "India", (6.75, 68.11, 35.50, 97.40)),
        ("IDN", "Indonesia", (-11.00, 95.01, 6.08, 141.02)),
        ("LAO", "Lao PDR", (13.91, 100.08, 22.50, 107.64)),
        ("MDV", "Maldives", (-0.70, 72.64, 7.10, 73.76)),
        ("MMR", "Myanmar", (9.78, 92.17, 28.55, 101.17)),
        ("NPL", "Nepal", (26.35, 80.06, 30.45, 88.20)),
        ("PAK", "Pakistan", (23.69, 60.87, 37.10, 77.84)),
        ("PNG", "Papua New Guinea", (-11.66, 140.84, -0.87, 156.02)),
        ("PHL", "Philippines", (4.59, 116.93, 21.12, 126.60)),
        ("WSM", "Samoa", (-14.08, -172.80, -13.43, -171.40)),
        ("SLB", "Solomon Islands", (-11.86, 155.51, -6.59, 167.00)),
        ("LKA", "Sri Lanka", (5.92, 79.52, 9.84, 81.88)),
        ("TLS", "Timor-Leste", (-9.50, 124.04, -8.13, 127.34)),
        ("TON", "Tonga", (-21.46, -175.68, -15.56, -173.70)),
        ("VUT", "Vanuatu", (-20.25, 166.52, -13.07, 170.24)),
        ("VNM", "Viet Nam", (8.56, 102.14, 23.39, 109.46)),
    ),
    "RBC": (
        ("DZA", "Algeria", (18.97, -8.67, 37.09, 11.98)),
        ("ARM", "Armenia", (38.84, 43.45, 41.30, 46.63)),
        ("EGY", "Egypt", (21.99, 24.70, 31.67, 36.90)),
        ("GEO", "Georgia", (41.05, 40.01, 43.59, 46.74)),
        ("IRN", "Iran", (25.06, 44.03, 39.78, 63.33)),
        ("IRQ", "Iraq", (29.06, 38.79, 37.38, 48.57)),
        ("JOR", "Jordan", (29.19, 34.96, 33.37, 39.30)),
        ("KGZ", "Kyrgyzstan", (39.17, 69.28, 43.27, 80.28)),
        ("LBN", "Lebanon", (33.05, 35.10, 34.69, 36.62)),
        ("LBY", "Libya", (19.50, 9.39, 33.17, 25.15)),
        ("MDA", "Moldova", (45.47, 26.62, 48.49, 30.16)),
        ("MAR", "Morocco", (27.67, -13.17, 35.92, -0.99)),
        ("PSE", "Palestine", (31.22, 34.22, 32.55, 35.57)),
        ("SYR", "Syria", (32.31, 35.73, 37.32, 42.38)),
        ("TJK", "Tajikistan", (36.67, 67.34, 41.04, 75.15)),
        ("TUN", "Tunisia", (30.23, 7.52, 37.54, 11.60)),
        ("TUR", "Türkiye", (35.82, 25.66, 42.11, 44.82)),
        ("UKR", "Ukraine", (44.39, 22.14, 52.38, 40.23)),
        ("UZB", "Uzbekistan", (37.18, 55.99, 45.59, 73.13)),
        ("YEM", "Yemen", (12.11, 42.55, 19.00, 54.55)),  # with Socotra
    ),
    "RBD": (
        ("BEN", "Benin", (6.14, 0.77, 12.42, 3.85)),
        ("BFA", "Burkina Faso", (9.39, -5.52, 15.08, 2.41)),
        ("CPV", "Cabo Verde", (14.80, -25.36, 17.21, -22.66)),
        ("CMR", "Cameroon", (1.65, 8.49, 13.08, 16.19)),
        ("CAF", "Central African Republic", (2.22, 14.42, 11.00, 27.46)),
        ("TCD", "Chad", (7.44, 13.47, 23.45, 24.00)),
        ("COG", "Congo", (-5.03, 11.09, 3.71, 18.65)),
        ("CIV", "Côte d'Ivoire", (4.34, -8.60, 10.74, -2.49)),
        ("GNQ", "Equatorial Guinea", (0.92, 8.42, 3.79, 11.34)),  # Río Muni and Bioko
        ("GAB", "Gabon", (-3.98, 8.70, 2.32, 14.53)),
        ("GMB", "Gambia", (13.06, -16.84, 13.83, -13.79)),
        ("GHA", "Ghana", (4.71, -3.26, 11.17, 1.20)),
        ("GIN", "Guinea", (7.19, -15.08, 12.68, -7.64)),
        ("GNB", "Guinea-Bissau", (10.86, -16.72, 12.69, -13.64)),
        ("LBR", "Liberia", (4.35, -11.49, 8.55, -7.37)),
        ("MLI", "Mali", (10.16, -12.24, 25.00, 4.27)),
        ("MRT", "Mauritania", (14.72, -17.07, 27.30, -4.83)),
        ("NER", "Niger", (11.69, 0.17, 23.53, 15.99)),
        ("NGA", "Nigeria", (4.27, 2.67, 13.89, 14.68)),
        ("STP", "Sao Tome and Principe", (0.02, 6.46, 1.70, 7.47)),
        ("SEN", "Senegal", (12.31, -17.54, 16.69, -11.35)),
        ("SLE", "Sierra Leone", (6.93, -13.30, 10.00, -10.27)),
        ("TGO", "Togo", (6.10, -0.15, 11.14, 1.81)),
    ),
    "RBJ": (
        ("AGO", "Angola", (-18.04, 11.67, -4.39, 24.08)),  # with Cabinda
        ("BWA", "Botswana", (-26.91, 19.99, -17.78, 29.38)),
        ("COM", "Comoros", (-12.42, 43.22, -11.36, 44.54)),
        ("COD", "Democratic Republic of the Congo", (-13.46, 12.18, 5.39, 31.31)),
        ("SWZ", "Eswatini", (-27.32, 30.79, -25.72, 32.14)),
        ("LSO", "Lesotho", (-30.68, 27.01, -28.57, 29.46)),
        ("MDG", "Madagascar", (-25.61, 43.22, -11.95, 50.48)),
        ("MWI", "Malawi", (-17.13, 32.67, -9.37, 35.92)),
        ("MUS", "Mauritius", (-20.53, 57.30, -19.98, 57.81)),
        ("MOZ", "Mozambique", (-26.87, 30.22, -10.47, 40.84)),
        ("NAM", "Namibia", (-28.97, 11.72, -16.96, 25.26)),
        ("ZAF", "South Africa", (-34.84, 16.45, -22.13, 32.89)),
        ("TZA", "Tanzania", (-11.75, 29.33, -0.98, 40.44)),
        ("ZMB", "Zambia", (-18.08, 21.99, -8.22, 33.71)),
        ("ZWE", "Zimbabwe", (-22.42, 25.24, -15.61, 33.06)),
    ),
    "RBN": (
        ("BDI", "Burundi", (-4.47, 29.00, -2.31, 30.85)),
        ("DJI", "Djibouti", (10.93, 41.77, 12.71, 43.42)),
        ("ERI", "Eritrea", (12.36, 36.43, 18.00, 43.14)),
        ("ETH", "Ethiopia", (3.40, 32.99, 14.89, 47.99)),
        ("KEN", "Kenya", (-4.68, 33.91, 5.03, 41.91)),
        ("RWA", "Rwanda", (-2.84, 28.86, -1.05, 30.90)),
        ("SOM", "Somalia", (-1.68, 40.99, 11.99, 51.41)),
        ("SSD", "South Sudan", (3.49, 23.44, 12.24, 35.95)),
        ("SDN", "Sudan", (8.68, 21.81, 22.23, 38.61)),
        ("UGA", "Uganda", (-1.48, 29.57, 4.23, 35.04)),
    ),
    "RBP": (
        ("ATG", "Antigua and Barbuda", (16.99, -61.91, 17.73, -61.67)),
        ("BRB", "Barbados", (13.04, -59.65, 13.34, -59.42)),
        ("BLZ", "Belize", (15.89, -89.23, 18.50, -87.49)),
        ("BOL", "Bolivia", (-22.90, -69.64, -9.68, -57.45)),
        ("BRA", "Brazil", (-33.75, -73.99, 5.27, -34.79)),
        ("COL", "Colombia", (-4.23, -79.00, 12.46, -66.85)),
        ("CUB", "Cuba", (19.82, -84.96, 23.27, -74.13)),
        ("DMA", "Dominica", (15.20, -61.48, 15.64, -61.24)),
        ("DOM", "Dominican Republic", (17.47, -72.01, 19.93, -68.32)),
        ("ECU", "Ecuador", (-5.02, -81.08, 1.45, -75.19)),  # mainland, without Galápagos
        ("SLV", "El Salvador", (13.15, -90.13, 14.45, -87.69)),
        ("GRD", "Grenada", (11.98, -61.80, 12.53, -61.38)),
        ("GTM", "Guatemala", (13.74, -92.24, 17.82, -88.22)),
        ("GUY", "Guyana", (1.17, -61.41, 8.56, -56.48)),
        ("HTI", "Haiti", (18.02, -74.48, 20.09, -71.62)),
        ("HND", "Honduras", (12.98, -89.36, 16.52, -83.13)),
        ("JAM", "Jamaica", (17.70, -78.37, 18.53, -76.18)),
        ("NIC", "Nicaragua", (10.71, -87.69, 15.03, -82.73)),
        ("PAN", "Panama", (7.20, -83.05, 9.65, -77.16)),
        ("PRY", "Paraguay", (-27.61, -62.65, -19.29, -54.26)),
        ("PER", "Peru", (-18.35, -81.33, -0.04, -68.65)),
        ("LCA", "Saint Lucia", (13.71, -61.08, 14.11, -60.87)),
        ("VCT", "Saint Vincent and the Grenadines", (12.58, -61.46, 13.38, -61.11)),
        ("SUR", "Suriname", (1.83, -58.07, 6.00, -53.98)),
        ("TTO", "Trinidad and Tobago", (10.04, -61.93, 11.36, -60.49)),
        ("VEN", "Venezuela", (0.65, -73.38, 12.20, -59.80)),
    ),
}

REGIONS: dict[str, Region] = {
    code: Region(code, _REGION_NAMES[code], tuple(iso3 for iso3, _, _ in rows))
    for code, rows in _COUNTRY_ROWS.items()
}

COUNTRIES: dict[str, Country] = {
    iso3: Country(iso3, name, region, bbox)
    for region, rows in _COUNTRY_ROWS.items()
    for iso3, name, bbox in rows
}


def region_of(iso3: str) -> str | None:
    """The code of the bureau serving a country, or None for a country we do not know."""
    country = COUNTRIES.get(iso3)
    return country.region if country else None


def country_name(iso3: str) -> str:
    """The short English name of a country; the code itself when unknown (never fails)."""
    country = COUNTRIES.get(iso3)
    return country.name if country else iso3


def in_country_bbox(iso3: str, lat: float, lon: float, margin_deg: float = 0.5) -> bool:
    """Whether a point lies in the country's bounding box widened by ``margin_deg``.

    An unknown country gives True: we cannot judge, so we do not reject.
    """
    country = COUNTRIES.get(iso3)
    if country is None:
        return True
    min_lat, min_lon, max_lat, max_lon = country.bbox
    return (
        min_lat - margin_deg <= lat <= max_lat + margin_deg
        and min_lon - margin_deg <= lon <= max_lon + margin_deg
    )


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres between two points given in decimal degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
