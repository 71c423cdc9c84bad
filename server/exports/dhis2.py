"""DHIS2 ``dataValueSets`` (Web API import shape) from our indicators and a mapping file.

The mapping (JSON, ``PILOTMON_DHIS2_MAPPING``; an example ships as ``dhis2_mapping.json``)
says which DHIS2 data element each indicator feeds, how it is disaggregated (by our attendance
keys: ``["sex"]``, ``["sex", "age_band"]``, ...), the category option combo of each
disaggregation value and the organisation unit of each country. Values go out per country
and DHIS2 period (``202503`` monthly, ``2025Q1`` quarterly, ``2025`` yearly).

Result indicators (defined by published forms, docs/results.md#exports) map in
``resultDataElements``, code -> ``{"id": uid}``, without disaggregation (the default category
option combo). A mapped code that no published form defines yet sends nothing.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session as OrmSession

from server.accounts.auth import Caller
from server.errors import ConfigError, ValidationFailed
from server.indicators.engine import Where
from server.indicators.refresh import apply_pending
from server.indicators.service import group_sums, parse_values_query, value_of
from server.results.indicators import ResultWhere, result_groups, result_indicators
from server.scope import country_scope_issue
from shared.catalogue import AgeBand, ParticipantCategory, Sex, codes
from shared.errors import ErrorCode, Issue
from shared.geography import COUNTRIES
from shared.indicators import (
    INDICATORS,
    IndicatorKind,
    period_bounds,
    period_grain,
    period_issue,
)

BUNDLED_MAPPING = Path(__file__).with_name("dhis2_mapping.json")
DHIS2_UID = re.compile(r"^[A-Za-z][A-Za-z0-9]{10}$")
RESULT_CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
PERIOD_TYPES: dict[str, str] = {"monthly": "month", "quarterly": "quarter", "yearly": "year"}
_GRAIN_ORDER = ("month", "quarter", "year")
_VALUES: dict[str, list[str]] = {
    "sex": codes(Sex),
    "age_band": codes(AgeBand),
    "category": codes(ParticipantCategory),
    "disability": ["true", "false"],
}


@dataclass(frozen=True, slots=True)
class DataElement:
    code: str
    uid: str
    disaggregation: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Dhis2Mapping:
    data_elements: dict[str, DataElement]
    default_combo: str
    combos: dict[str, dict[str, str]]  # "sex|age_band" -> {"female|youth": uid}
    attribute_option_combo: str | None
    org_units: dict[str, str]
    result_elements: dict[str, DataElement] = dataclass_field(default_factory=dict)

    @property
    def codes(self) -> list[str]:
        return [*self.data_elements, *self.result_elements]


def _fail(path: Path, message: str) -> ConfigError:
    return ConfigError(f"DHIS2 mapping {path}: {message}")


def _uid(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not DHIS2_UID.match(value):
        raise _fail(
            path, f"{where} must be a DHIS2 UID (a letter and 10 letters or digits), not {value!r}"
        )
    return value


def load_mapping(path: Path | None = None) -> Dhis2Mapping:
    """Read and check a mapping file; ConfigError says what is wrong and where."""
    path = path or BUNDLED_MAPPING
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise _fail(path, f"is not JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(raw, dict):
        raise _fail(path, "must be a JSON object")
    combos_raw = raw.get("categoryOptionCombos") or {}
    default = _uid(path, "categoryOptionCombos.default", combos_raw.get("default"))
    combos: dict[str, dict[str, str]] = {}
    elements: dict[str, DataElement] = {}
    for code, spec in (raw.get("dataElements") or {}).items():
        if code not in INDICATORS or INDICATORS[code].kind == IndicatorKind.TARGET:
            raise _fail(
                path,
                f"dataElements.{code}: not an indicator we can send "
                f"(indicators: {', '.join(i for i in INDICATORS)})",
            )
        if not isinstance(spec, dict):
            raise _fail(path, f"dataElements.{code} must be an object with an id")
        keys = tuple(spec.get("disaggregation") or ())
        unknown = [k for k in keys if k not in _VALUES]
        if unknown or len(set(keys)) != len(keys):
            raise _fail(
                path,
                f"dataElements.{code}.disaggregation: use distinct keys among {', '.join(_VALUES)}",
            )
        if keys and INDICATORS[code].kind != IndicatorKind.PARTICIPANT:
            raise _fail(
                path, f"dataElements.{code}: only participant indicators can be disaggregated"
            )
        if keys:
            name = "|".join(keys)
            table = combos_raw.get(name)
            if not isinstance(table, dict):
                raise _fail(path, f"categoryOptionCombos.{name} is missing (needed by {code})")
            for combination in itertools.product(*(_VALUES[k] for k in keys)):
                value = "|".join(combination)
                combos.setdefault(name, {})[value] = _uid(
                    path, f"categoryOptionCombos.{name}.{value}", table.get(value)
                )
        elements[code] = DataElement(
            code, _uid(path, f"dataElements.{code}.id", spec.get("id")), keys
        )
    results: dict[str, DataElement] = {}
    for code, spec in (raw.get("resultDataElements") or {}).items():
        if not RESULT_CODE.match(code) or code in INDICATORS:
            raise _fail(path, f"resultDataElements.{code}: not a result indicator code")
        if not isinstance(spec, dict) or spec.get("disaggregation"):
            raise _fail(path, f"resultDataElements.{code} must be an object with an id only")
        results[code] = DataElement(
            code, _uid(path, f"resultDataElements.{code}.id", spec.get("id")), ()
        )
    if not elements and not results:
        raise _fail(path, "dataElements is empty: map at least one indicator")
    attribute = raw.get("attributeOptionCombo")
    if attribute is not None:
        attribute = _uid(path, "attributeOptionCombo", attribute)
    org_units: dict[str, str] = {}
    for iso3, uid in (raw.get("orgUnits") or {}).items():
        if iso3 not in COUNTRIES:
            raise _fail(path, f"orgUnits.{iso3}: not an ISO 3166-1 alpha-3 country we know")
        org_units[iso3] = _uid(path, f"orgUnits.{iso3}", uid)
    return Dhis2Mapping(elements, default, combos, attribute, org_units, results)


def _dhis2_period(grain: str, raw: int) -> str:
    if grain == "month":
        return f"{raw:06d}"  # 202503
    if grain == "quarter":
        return f"{raw // 10:04d}Q{raw % 10}"
    return f"{raw:04d}"


def _combo_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: int | float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True, slots=True)
class DataValueSet:
    data_values: list[dict[str, str]]
    unmapped_countries: list[str]  # countries with values but no organisation unit

    def as_json(self) -> dict[str, Any]:
        return {"dataValues": self.data_values}


def data_value_set(
    session: OrmSession,
    *,
    caller: Caller | None,
    mapping: Dhis2Mapping,
    period: str,
    period_type: str | None = None,
    country: str | None = None,
    status: str | None = None,
    indicators: Sequence[str] = (),
) -> DataValueSet:
    """The data values of the mapped indicators for ``period`` (2025, 2025Q3 or 2025-07)."""
    errors: list[Issue] = []
    period = period.strip().upper()  # 2025q3 as 2025Q3, as the other channels take it
    grain: str | None = None
    if (problem := period_issue(period, "period")) is not None:  # 0000, 0001Q1: not sent
        errors.append(problem)
    else:
        grain = period_grain(period)
    wanted_grain = grain
    if period_type is not None:
        wanted_grain = PERIOD_TYPES.get(period_type.strip().lower())
        if wanted_grain is None:
            errors.append(
                Issue("period_type", ErrorCode.UNKNOWN_CODE, "use monthly, quarterly or yearly")
            )
        elif grain and _GRAIN_ORDER.index(wanted_grain) > _GRAIN_ORDER.index(grain):
            errors.append(
                Issue(
                    "period_type",
                    ErrorCode.INVALID,
                    f"{period_type} periods do not fit inside {period}",
                )
            )
    unknown = [c for c in indicators if c not in mapping.codes]
    if unknown:
        errors.append(
            Issue(
                "indicators",
                ErrorCode.UNKNOWN_CODE,
                f"not in the DHIS2 mapping: "
                f"{', '.join(unknown)}; mapped: {', '.join(mapping.codes)}",
            )
        )
    filters = {"country": country} if country else {}
    try:
        query = parse_values_query(code="PARTICIPANTS", filters=filters, status=status)
    except ValidationFailed as exc:
        errors.extend(exc.issues)
        query = None
    if query is not None:
        scope = country_scope_issue(
            session, caller=caller, countries=query.filters.get("country", ())
        )
        if scope is not None:
            errors.append(scope)
    if errors or query is None or grain is None or wanted_grain is None:
        raise ValidationFailed(errors, status_code=400)

    apply_pending(session)
    first, last = period_bounds(period)
    where = Where(
        statuses=query.statuses, filters=query.filters, date_from=first, date_to=last, caller=caller
    )
    values: list[dict[str, str]] = []
    unmapped: set[str] = set()
    wanted = list(indicators or mapping.codes)
    results = result_indicators(session) if mapping.result_elements else {}
    result_where = ResultWhere(
        statuses=query.statuses,
        filters=query.filters,
        date_from=first,
        date_to=last,
        caller=caller,
    )
    for code in wanted:
        if code in mapping.result_elements:
            if code not in results:
                continue  # no published form defines it (yet)
            element = mapping.result_elements[code]
            for g in result_groups(
                session,
                indicator=results[code],
                keys=("country", f"period:{wanted_grain}"),
                where=result_where,
            ):
                if g.value is None:
                    continue
                org_unit = mapping.org_units.get(g.key[0])
                if org_unit is None:
                    unmapped.add(g.key[0])
                    continue
                entry = {
                    "dataElement": element.uid,
                    "period": _dhis2_period(wanted_grain, g.key[1]),
                    "orgUnit": org_unit,
                    "categoryOptionCombo": mapping.default_combo,
                    "value": _number(g.value),
                }
                if mapping.attribute_option_combo:
                    entry["attributeOptionCombo"] = mapping.attribute_option_combo
                values.append(entry)
            continue
        element = mapping.data_elements[code]
        keys = ("country", f"period:{wanted_grain}", *element.disaggregation)
        for key, sums in group_sums(session, code=code, where=where, keys=keys).items():
            value = value_of(code, sums)
            if value is None:
                continue
            org_unit = mapping.org_units.get(key[0])
            if org_unit is None:
                unmapped.add(key[0])
                continue
            combo = mapping.default_combo
            if element.disaggregation:
                name = "|".join(element.disaggregation)
                combo = mapping.combos[name]["|".join(_combo_value(v) for v in key[2:])]
            entry = {
                "dataElement": element.uid,
                "period": _dhis2_period(wanted_grain, key[1]),
                "orgUnit": org_unit,
                "categoryOptionCombo": combo,
                "value": _number(value),
            }
            if mapping.attribute_option_combo:
                entry["attributeOptionCombo"] = mapping.attribute_option_combo
            values.append(entry)
    values.sort(
        key=lambda v: (v["dataElement"], v["orgUnit"], v["period"], v["categoryOptionCombo"])
    )
    return DataValueSet(values, sorted(unmapped))
