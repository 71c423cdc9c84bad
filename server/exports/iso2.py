"""ISO 3166-1 alpha-2 codes for the countries of ``shared.geography`` (IATI wants alpha-2)."""

from __future__ import annotations

ISO2: dict[str, str] = {
    # RBB
    "AFG": "AF", "BGD": "BD", "BTN": "BT", "KHM": "KH", "CHN": "CN", "PRK": "KP", "FJI": "FJ",
    "IND": "IN", "IDN": "ID", "LAO": "LA", "MDV": "MV", "MMR": "MM", "NPL": "NP", "PAK": "PK",
    "PNG": "PG", "PHL": "PH", "WSM": "WS", "SLB": "SB", "LKA": "LK", "TLS": "TL", "TON": "TO",
    "VUT": "VU", "VNM": "VN",
    # RBC
    "DZA": "DZ", "ARM": "AM", "EGY": "EG", "GEO": "GE", "IRN": "IR", "IRQ": "IQ", "JOR": "JO",
    "KGZ": "KG", "LBN": "LB", "LBY": "LY", "MDA": "MD", "MAR": "MA", "PSE": "PS", "SYR": "SY",
    "TJK": "TJ", "TUN": "TN", "TUR": "TR", "UKR": "UA", "UZB": "UZ", "YEM": "YE",
    # RBD
    "BEN": "BJ", "BFA": "BF", "CPV": "CV", "CMR": "CM", "CAF": "CF", "TCD": "TD", "COG": "CG",
    "CIV": "CI", "GNQ": "GQ", "GAB": "GA", "GMB": "GM", "GHA": "GH", "GIN": "GN", "GNB": "GW",
    "LBR": "LR", "MLI": "ML", "MRT": "MR", "NER": "NE", "NGA": "NG", "STP": "ST", "SEN": "SN",
    "SLE": "SL", "TGO": "TG",
    # RBJ
    "AGO": "AO", "BWA": "BW", "COM": "KM", "COD": "CD", "SWZ": "SZ", "LSO": "LS", "MDG": "MG",
    "MWI": "MW", "MUS": "MU", "MOZ": "MZ", "NAM": "NA", "ZAF": "ZA", "TZA": "TZ", "ZMB": "ZM",
    "ZWE": "ZW",
    # RBN
    "BDI": "BI", "DJI": "DJ", "ERI": "ER", "ETH": "ET", "KEN": "KE", "RWA": "RW", "SOM": "SO",
    "SSD": "SS", "SDN": "SD", "UGA": "UG",
    # RBP
    "ATG": "AG", "BRB": "BB", "BLZ": "BZ", "BOL": "BO", "BRA": "BR", "COL": "CO", "CUB": "CU",
    "DMA": "DM", "DOM": "DO", "ECU": "EC", "SLV": "SV", "GRD": "GD", "GTM": "GT", "GUY": "GY",
    "HTI": "HT", "HND": "HN", "JAM": "JM", "NIC": "NI", "PAN": "PA", "PRY": "PY", "PER": "PE",
    "LCA": "LC", "VCT": "VC", "SUR": "SR", "TTO": "TT", "VEN": "VE",
}


def iso2_of(iso3: str) -> str | None:
    return ISO2.get(iso3)
