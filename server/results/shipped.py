"""The five forms Pilot Monitor ships (docs/results.md#shipped-forms), as definition dicts.

Each entry of ``SHIPPED_FORMS`` is a form definition in the shape of docs/results.md:
``{code, title{lang}, fields, indicators}``, with every field written out in full
(``name type label hint unit required min max choices relevant``) and every indicator too
(``code name unit aggregate field numerator denominator factor choice compare direction``; an
unused key is ``None``). ``shared.forms`` validates them like any other definition, and
``pilotmon init-db`` publishes them as global forms (a changed definition here publishes the
next version). Labels in English, French, Portuguese and Spanish.

Plain data: nothing here touches the database.
"""

from __future__ import annotations

from typing import Any

Labels = dict[str, str]


def _t(en: str, fr: str, pt: str, es: str) -> Labels:
    return {"en": en, "fr": fr, "pt": pt, "es": es}


def _choice(code: str, label: Labels) -> dict[str, Any]:
    return {"code": code, "label": label}


def _field(
    name: str,
    type_: str,
    label: Labels,
    *,
    hint: Labels | None = None,
    unit: str | None = None,
    required: bool = True,
    min_: float | int | str | None = None,
    max_: float | int | str | None = None,
    choices: list[dict[str, Any]] | None = None,
    relevant: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "type": type_,
        "label": label,
        "hint": hint or {},
        "unit": unit,
        "required": required,
        "min": min_,
        "max": max_,
        "choices": choices or [],
        "relevant": relevant,
    }


def _indicator(
    code: str,
    name: Labels,
    unit: str,
    aggregate: str,
    *,
    field: str | None = None,
    numerator: str | None = None,
    denominator: str | None = None,
    factor: float | None = None,
    choice: str | None = None,
    compare: str | None = None,
    direction: str = "increase",
) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "unit": unit,
        "aggregate": aggregate,
        "field": field,
        "numerator": numerator,
        "denominator": denominator,
        "factor": factor,
        "choice": choice,
        "compare": compare,
        "direction": direction,
    }


# --- shared vocabularies ---------------------------------------------------------------------

# The priority products and staple crops of the demo projects (docs/product.md).
CROPS: list[dict[str, Any]] = [
    _choice("potato", _t("Potato", "Pomme de terre", "Batata", "Papa")),
    _choice("banana", _t("Banana", "Banane", "Banana", "Banano")),
    _choice("cocoa", _t("Cocoa", "Cacao", "Cacau", "Cacao")),
    _choice("maize", _t("Maize", "Maïs", "Milho", "Maíz")),
    _choice("rice", _t("Rice", "Riz", "Arroz", "Arroz")),
    _choice("cassava", _t("Cassava", "Manioc", "Mandioca", "Yuca")),
    _choice("wheat", _t("Wheat", "Blé", "Trigo", "Trigo")),
    _choice("sorghum", _t("Sorghum", "Sorgho", "Sorgo", "Sorgo")),
    _choice("beans", _t("Beans", "Haricots", "Feijão", "Frijoles")),
    _choice("jackfruit", _t("Jackfruit", "Jacquier", "Jaca", "Yaca")),
    _choice("date_palm", _t("Date palm", "Palmier dattier", "Tamareira", "Palma datilera")),
    _choice("sweet_cherry", _t("Sweet cherry", "Cerise douce", "Cereja doce", "Cereza dulce")),
    _choice("tomato", _t("Tomato", "Tomate", "Tomate", "Tomate")),
    _choice("vegetables", _t("Vegetables", "Légumes", "Hortaliças", "Hortalizas")),
    _choice("avocado", _t("Avocado", "Avocat", "Abacate", "Aguacate")),
    _choice("spices", _t("Spices", "Épices", "Especiarias", "Especias")),
    _choice("other", _t("Other", "Autre", "Outro", "Otro")),
]

# Grains and pulses kept in store (post-harvest checks).
STORED_CROPS: list[dict[str, Any]] = [
    c
    for c in CROPS
    if c["code"] in {"maize", "rice", "wheat", "sorghum", "beans", "cassava", "potato", "other"}
]

PRACTICES: list[dict[str, Any]] = [
    _choice(
        "improved_seed",
        _t(
            "Improved or certified seed",
            "Semences améliorées ou certifiées",
            "Semente melhorada ou certificada",
            "Semilla mejorada o certificada",
        ),
    ),
    _choice(
        "fertiliser_placement",
        _t(
            "Fertiliser placement (micro-dosing)",
            "Placement localisé de l'engrais (microdose)",
            "Aplicação localizada de adubo (microdosagem)",
            "Aplicación localizada de fertilizante (microdosis)",
        ),
    ),
    _choice(
        "ridge_planting",
        _t(
            "Ridge planting",
            "Plantation sur billons",
            "Plantio em camalhões",
            "Siembra en camellones",
        ),
    ),
    _choice(
        "row_spacing",
        _t(
            "Row planting and spacing",
            "Semis en lignes et espacement",
            "Plantio em linhas e espaçamento",
            "Siembra en hileras y espaciamiento",
        ),
    ),
    _choice(
        "intercropping",
        _t(
            "Intercropping with legumes",
            "Culture associée avec des légumineuses",
            "Consorciação com leguminosas",
            "Cultivo intercalado con leguminosas",
        ),
    ),
    _choice(
        "conservation_agriculture",
        _t(
            "Conservation agriculture",
            "Agriculture de conservation",
            "Agricultura de conservação",
            "Agricultura de conservación",
        ),
    ),
    _choice(
        "integrated_pest_management",
        _t(
            "Integrated pest and disease management",
            "Lutte intégrée contre les ravageurs et maladies",
            "Manejo integrado de pragas e doenças",
            "Manejo integrado de plagas y enfermedades",
        ),
    ),
    _choice(
        "irrigation",
        _t(
            "Drip or solar irrigation",
            "Irrigation goutte-à-goutte ou solaire",
            "Irrigação gota-a-gota ou solar",
            "Riego por goteo o solar",
        ),
    ),
    _choice(
        "hermetic_storage",
        _t(
            "Hermetic storage",
            "Stockage hermétique",
            "Armazenamento hermético",
            "Almacenamiento hermético",
        ),
    ),
    _choice(
        "drying_and_sorting",
        _t(
            "Drying and sorting after harvest",
            "Séchage et tri après récolte",
            "Secagem e seleção pós-colheita",
            "Secado y selección poscosecha",
        ),
    ),
    _choice(
        "processing",
        _t(
            "Processing and packaging",
            "Transformation et conditionnement",
            "Processamento e embalagem",
            "Procesamiento y envasado",
        ),
    ),
    _choice("other", _t("Other", "Autre", "Outra", "Otra")),
]


def _remarks() -> dict[str, Any]:
    return _field(
        "remarks",
        "text",
        _t("Remarks", "Remarques", "Observações", "Observaciones"),
        hint=_t(
            "Anything unusual: weather, pests, a late harvest.",
            "Tout fait inhabituel : météo, ravageurs, récolte tardive.",
            "Qualquer facto invulgar: clima, pragas, colheita tardia.",
            "Cualquier hecho inusual: clima, plagas, cosecha tardía.",
        ),
        required=False,
    )


# --- the forms -------------------------------------------------------------------------------

DEMO_PLOT_HARVEST: dict[str, Any] = {
    "code": "DEMO_PLOT_HARVEST",
    "title": _t(
        "Demonstration plot harvest",
        "Récolte de parcelle de démonstration",
        "Colheita de parcela de demonstração",
        "Cosecha de parcela demostrativa",
    ),
    "fields": [
        _field(
            "crop",
            "select_one",
            _t("Crop", "Culture", "Cultura", "Cultivo"),
            choices=CROPS,
        ),
        _field(
            "plot",
            "select_one",
            _t("Plot", "Parcelle", "Parcela", "Parcela"),
            hint=_t(
                "Demonstration plot, or the farmer's usual practice next to it.",
                "Parcelle de démonstration, ou la pratique habituelle de l'agriculteur à côté.",
                "Parcela de demonstração, ou a prática habitual do agricultor ao lado.",
                "Parcela demostrativa, o la práctica habitual del agricultor al lado.",
            ),
            choices=[
                _choice(
                    "demo", _t("Demonstration", "Démonstration", "Demonstração", "Demostración")
                ),
                _choice(
                    "control",
                    _t(
                        "Control (usual practice)",
                        "Témoin (pratique habituelle)",
                        "Controlo (prática habitual)",
                        "Testigo (práctica habitual)",
                    ),
                ),
            ],
        ),
        _field(
            "practice",
            "select_one",
            _t(
                "Practice demonstrated",
                "Pratique démontrée",
                "Prática demonstrada",
                "Práctica demostrada",
            ),
            choices=PRACTICES,
            relevant={"field": "plot", "in": ["demo"]},
        ),
        _field(
            "plot_area_m2",
            "decimal",
            _t(
                "Plot area", "Surface de la parcelle", "Área da parcela", "Superficie de la parcela"
            ),
            hint=_t(
                "Harvested area in square metres (1 ha = 10 000 m²).",
                "Surface récoltée en mètres carrés (1 ha = 10 000 m²).",
                "Área colhida em metros quadrados (1 ha = 10 000 m²).",
                "Superficie cosechada en metros cuadrados (1 ha = 10 000 m²).",
            ),
            unit="m2",
            min_=1,
            max_=100_000,
        ),
        _field(
            "harvest_kg",
            "decimal",
            _t("Harvest", "Récolte", "Colheita", "Cosecha"),
            hint=_t(
                "Fresh weight harvested from the plot, in kilograms.",
                "Poids frais récolté sur la parcelle, en kilogrammes.",
                "Peso fresco colhido na parcela, em quilogramas.",
                "Peso fresco cosechado en la parcela, en kilogramos.",
            ),
            unit="kg",
            min_=0,
            max_=500_000,
        ),
        _field(
            "harvest_date",
            "date",
            _t("Harvest date", "Date de récolte", "Data da colheita", "Fecha de cosecha"),
            min_="2015-01-01",
        ),
        _field(
            "moisture_pct",
            "decimal",
            _t("Grain moisture", "Humidité du grain", "Humidade do grão", "Humedad del grano"),
            hint=_t(
                "Only for grain, if measured.",
                "Seulement pour les grains, si elle a été mesurée.",
                "Só para grão, se foi medida.",
                "Solo para granos, si se midió.",
            ),
            unit="%",
            required=False,
            min_=0,
            max_=100,
        ),
        _remarks(),
    ],
    "indicators": [
        _indicator(
            "YIELD_KG_HA",
            _t("Yield", "Rendement", "Rendimento", "Rendimiento"),
            "kg/ha",
            "ratio",
            numerator="harvest_kg",
            denominator="plot_area_m2",
            factor=10_000,
            compare="plot",
        ),
    ],
}

STORAGE_LOSS_CHECK: dict[str, Any] = {
    "code": "STORAGE_LOSS_CHECK",
    "title": _t(
        "Storage loss check",
        "Contrôle des pertes au stockage",
        "Verificação de perdas no armazenamento",
        "Control de pérdidas en almacenamiento",
    ),
    "fields": [
        _field(
            "crop", "select_one", _t("Crop", "Culture", "Cultura", "Cultivo"), choices=STORED_CROPS
        ),
        _field(
            "storage",
            "select_one",
            _t("Storage", "Stockage", "Armazenamento", "Almacenamiento"),
            choices=[
                _choice(
                    "traditional",
                    _t(
                        "Traditional (granary, woven bag)",
                        "Traditionnel (grenier, sac tissé)",
                        "Tradicional (celeiro, saco de ráfia)",
                        "Tradicional (granero, saco tejido)",
                    ),
                ),
                _choice(
                    "hermetic_bag",
                    _t("Hermetic bag", "Sac hermétique", "Saco hermético", "Bolsa hermética"),
                ),
                _choice(
                    "metal_silo",
                    _t("Metal silo", "Silo métallique", "Silo metálico", "Silo metálico"),
                ),
                _choice("warehouse", _t("Warehouse", "Entrepôt", "Armazém", "Almacén")),
            ],
        ),
        _field(
            "stored_kg",
            "decimal",
            _t(
                "Quantity stored",
                "Quantité stockée",
                "Quantidade armazenada",
                "Cantidad almacenada",
            ),
            unit="kg",
            min_=0,
            max_=10_000_000,
        ),
        _field(
            "lost_kg",
            "decimal",
            _t("Quantity lost", "Quantité perdue", "Quantidade perdida", "Cantidad perdida"),
            hint=_t(
                "Weight no longer fit to eat or sell at the check.",
                "Poids impropre à la consommation ou à la vente au moment du contrôle.",
                "Peso impróprio para consumo ou venda no momento da verificação.",
                "Peso no apto para consumo o venta en el momento del control.",
            ),
            unit="kg",
            min_=0,
            max_="${stored_kg}",
        ),
        _field(
            "weeks_stored",
            "integer",
            _t(
                "Weeks in store", "Semaines de stockage", "Semanas armazenado", "Semanas almacenado"
            ),
            unit="weeks",
            min_=0,
            max_=156,
        ),
        _field(
            "loss_causes",
            "select_multiple",
            _t(
                "Causes of loss", "Causes des pertes", "Causas das perdas", "Causas de las pérdidas"
            ),
            required=False,
            choices=[
                _choice("insects", _t("Insects", "Insectes", "Insetos", "Insectos")),
                _choice("rodents", _t("Rodents", "Rongeurs", "Roedores", "Roedores")),
                _choice("moulds", _t("Moulds", "Moisissures", "Bolores", "Mohos")),
                _choice("moisture", _t("Moisture", "Humidité", "Humidade", "Humedad")),
                _choice("theft", _t("Theft", "Vol", "Roubo", "Robo")),
                _choice("other", _t("Other", "Autre", "Outra", "Otra")),
            ],
        ),
        _remarks(),
    ],
    "indicators": [
        _indicator(
            "LOSS_PCT",
            _t(
                "Post-harvest loss",
                "Pertes après récolte",
                "Perdas pós-colheita",
                "Pérdidas poscosecha",
            ),
            "%",
            "ratio",
            numerator="lost_kg",
            denominator="stored_kg",
            factor=100,
            compare="storage",
            direction="decrease",
        ),
    ],
}

ADOPTION_FOLLOW_UP: dict[str, Any] = {
    "code": "ADOPTION_FOLLOW_UP",
    "title": _t(
        "Adoption follow-up",
        "Suivi de l'adoption",
        "Acompanhamento da adoção",
        "Seguimiento de la adopción",
    ),
    "fields": [
        _field(
            "practice",
            "select_one",
            _t("Practice", "Pratique", "Prática", "Práctica"),
            choices=PRACTICES,
        ),
        _field(
            "farmers_visited",
            "integer",
            _t(
                "Trained farmers visited",
                "Agriculteurs formés visités",
                "Agricultores formados visitados",
                "Agricultores capacitados visitados",
            ),
            unit="farmers",
            min_=1,
            max_=10_000,
        ),
        _field(
            "farmers_applying",
            "integer",
            _t(
                "Farmers applying the practice",
                "Agriculteurs qui appliquent la pratique",
                "Agricultores que aplicam a prática",
                "Agricultores que aplican la práctica",
            ),
            hint=_t(
                "Seen applying it on their own fields this season.",
                "Constaté sur leurs propres champs cette saison.",
                "Observado nos seus próprios campos nesta campanha.",
                "Observado en sus propias parcelas esta temporada.",
            ),
            unit="farmers",
            min_=0,
            max_="${farmers_visited}",
        ),
        _field(
            "women_applying",
            "integer",
            _t(
                "Of whom women",
                "Dont femmes",
                "Dos quais mulheres",
                "De ellos, mujeres",
            ),
            unit="farmers",
            min_=0,
            max_="${farmers_applying}",
        ),
        _field(
            "months_since_training",
            "integer",
            _t(
                "Months since the training",
                "Mois depuis la formation",
                "Meses desde a formação",
                "Meses desde la capacitación",
            ),
            unit="months",
            required=False,
            min_=0,
            max_=60,
        ),
        _remarks(),
    ],
    "indicators": [
        _indicator(
            "ADOPTION_RATE",
            _t("Adoption rate", "Taux d'adoption", "Taxa de adoção", "Tasa de adopción"),
            "%",
            "ratio",
            numerator="farmers_applying",
            denominator="farmers_visited",
            factor=100,
        ),
        _indicator(
            "WOMEN_ADOPTERS",
            _t(
                "Women adopters",
                "Femmes adoptantes",
                "Mulheres que adotaram",
                "Mujeres que adoptaron",
            ),
            "farmers",
            "sum",
            field="women_applying",
        ),
    ],
}

PRODUCT_SALES: dict[str, Any] = {
    "code": "PRODUCT_SALES",
    "title": _t("Product sales", "Ventes de produits", "Vendas de produtos", "Ventas de productos"),
    "fields": [
        _field(
            "product", "select_one", _t("Product", "Produit", "Produto", "Producto"), choices=CROPS
        ),
        _field(
            "channel",
            "select_one",
            _t("Sales channel", "Canal de vente", "Canal de venda", "Canal de venta"),
            choices=[
                _choice(
                    "local_market",
                    _t("Local market", "Marché local", "Mercado local", "Mercado local"),
                ),
                _choice(
                    "cooperative", _t("Cooperative", "Coopérative", "Cooperativa", "Cooperativa")
                ),
                _choice(
                    "e_commerce",
                    _t(
                        "E-commerce",
                        "Commerce en ligne",
                        "Comércio eletrónico",
                        "Comercio electrónico",
                    ),
                ),
                _choice("export", _t("Export", "Exportation", "Exportação", "Exportación")),
            ],
        ),
        _field(
            "volume_kg",
            "decimal",
            _t("Volume sold", "Volume vendu", "Volume vendido", "Volumen vendido"),
            unit="kg",
            min_=0,
            max_=10_000_000,
        ),
        _field(
            "value_usd",
            "decimal",
            _t("Sales value", "Valeur des ventes", "Valor das vendas", "Valor de las ventas"),
            hint=_t(
                "Converted to US dollars at the day's rate.",
                "Convertie en dollars américains au taux du jour.",
                "Convertido em dólares americanos à taxa do dia.",
                "Convertido a dólares estadounidenses al tipo del día.",
            ),
            unit="USD",
            min_=0,
            max_=100_000_000,
        ),
        _field(
            "sellers",
            "integer",
            _t(
                "Farmers selling",
                "Agriculteurs vendeurs",
                "Agricultores que venderam",
                "Agricultores que vendieron",
            ),
            unit="farmers",
            required=False,
            min_=0,
            max_=100_000,
        ),
        _remarks(),
    ],
    "indicators": [
        _indicator(
            "SALES_USD",
            _t("Sales", "Ventes", "Vendas", "Ventas"),
            "USD",
            "sum",
            field="value_usd",
        ),
        _indicator(
            "PRICE_USD_KG",
            _t("Average price", "Prix moyen", "Preço médio", "Precio medio"),
            "USD/kg",
            "ratio",
            numerator="value_usd",
            denominator="volume_kg",
            factor=1,
        ),
    ],
}

PREPAREDNESS_CHECK: dict[str, Any] = {
    "code": "PREPAREDNESS_CHECK",
    "title": _t(
        "Disaster preparedness check",
        "Contrôle de la préparation aux catastrophes",
        "Verificação da preparação para desastres",
        "Control de preparación ante desastres",
    ),
    "fields": [
        _field(
            "hazard",
            "select_one",
            _t("Main hazard", "Aléa principal", "Risco principal", "Amenaza principal"),
            choices=[
                _choice("drought", _t("Drought", "Sécheresse", "Seca", "Sequía")),
                _choice("flood", _t("Flood", "Inondation", "Inundação", "Inundación")),
                _choice("cyclone", _t("Cyclone", "Cyclone", "Ciclone", "Ciclón")),
                _choice(
                    "heat", _t("Heat wave", "Vague de chaleur", "Onda de calor", "Ola de calor")
                ),
                _choice(
                    "pests",
                    _t(
                        "Pest outbreak",
                        "Invasion de ravageurs",
                        "Surto de pragas",
                        "Brote de plagas",
                    ),
                ),
                _choice("other", _t("Other", "Autre", "Outro", "Otra")),
            ],
        ),
        _field(
            "households",
            "integer",
            _t(
                "Households checked",
                "Ménages contrôlés",
                "Agregados verificados",
                "Hogares verificados",
            ),
            unit="households",
            min_=1,
            max_=100_000,
        ),
        _field(
            "households_with_plan",
            "integer",
            _t(
                "Households with a preparedness plan",
                "Ménages ayant un plan de préparation",
                "Agregados com um plano de preparação",
                "Hogares con un plan de preparación",
            ),
            unit="households",
            min_=0,
            max_="${households}",
        ),
        _field(
            "early_warning_received",
            "boolean",
            _t(
                "Community received the last early warning",
                "La communauté a reçu la dernière alerte précoce",
                "A comunidade recebeu o último alerta precoce",
                "La comunidad recibió la última alerta temprana",
            ),
        ),
        _field(
            "warning_channels",
            "select_multiple",
            _t("Warning channels", "Canaux d'alerte", "Canais de alerta", "Canales de alerta"),
            required=False,
            choices=[
                _choice("radio", _t("Radio", "Radio", "Rádio", "Radio")),
                _choice("sms", _t("SMS", "SMS", "SMS", "SMS")),
                _choice(
                    "extension_worker",
                    _t(
                        "Extension worker",
                        "Agent de vulgarisation",
                        "Extensionista",
                        "Extensionista",
                    ),
                ),
                _choice(
                    "community_leader",
                    _t(
                        "Community leader",
                        "Chef communautaire",
                        "Líder comunitário",
                        "Líder comunitario",
                    ),
                ),
                _choice("other", _t("Other", "Autre", "Outro", "Otro")),
            ],
        ),
        _field(
            "last_drill_date",
            "date",
            _t(
                "Date of the last drill",
                "Date du dernier exercice",
                "Data do último simulacro",
                "Fecha del último simulacro",
            ),
            required=False,
            min_="2015-01-01",
        ),
        _remarks(),
    ],
    "indicators": [
        _indicator(
            "PREPARED_SHARE",
            _t(
                "Households with a plan",
                "Ménages ayant un plan",
                "Agregados com plano",
                "Hogares con plan",
            ),
            "%",
            "ratio",
            numerator="households_with_plan",
            denominator="households",
            factor=100,
        ),
        _indicator(
            "EARLY_WARNING_SHARE",
            _t(
                "Checks where the early warning arrived",
                "Contrôles où l'alerte précoce est arrivée",
                "Verificações em que o alerta precoce chegou",
                "Controles en que llegó la alerta temprana",
            ),
            "%",
            "share",
            field="early_warning_received",
        ),
    ],
}

SHIPPED_FORMS: list[dict[str, Any]] = [
    DEMO_PLOT_HARVEST,
    STORAGE_LOSS_CHECK,
    ADOPTION_FOLLOW_UP,
    PRODUCT_SALES,
    PREPAREDNESS_CHECK,
]
