"""Form definitions (docs/results.md#forms): each rule refuses with its field path and code."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from server.results.shipped import SHIPPED_FORMS
from shared.errors import ErrorCode
from shared.forms import validate_form


def _form() -> dict[str, Any]:
    return {
        "code": "DEMO_TEST",
        "title": {"en": "Test", "fr": "Essai"},
        "fields": [
            {
                "name": "plot",
                "type": "select_one",
                "label": {"en": "Plot"},
                "required": True,
                "choices": [
                    {"code": "demo", "label": {"en": "Demo"}},
                    {"code": "control", "label": {"en": "Control"}},
                ],
            },
            {"name": "area_m2", "type": "decimal", "label": {"en": "Area"}, "min": 1, "max": 9},
            {"name": "harvest_kg", "type": "integer", "label": {"en": "Harvest"}, "min": 0},
            {"name": "sown", "type": "date", "label": {"en": "Sown"}, "min": "2020-01-01"},
            {"name": "ok", "type": "boolean", "label": {"en": "OK"}},
            {
                "name": "practice",
                "type": "text",
                "label": {"en": "Practice"},
                "relevant": {"field": "plot", "in": ["demo"]},
            },
        ],
        "indicators": [
            {
                "code": "TEST_YIELD",
                "name": {"en": "Yield"},
                "unit": "kg/ha",
                "aggregate": "ratio",
                "numerator": "harvest_kg",
                "denominator": "area_m2",
                "factor": 10000,
                "compare": "plot",
            },
            {"code": "TEST_OK", "name": {"en": "OK"}, "aggregate": "share", "field": "ok"},
        ],
    }


def test_a_good_definition_is_normalised() -> None:
    check = validate_form(_form())
    assert check.ok, check.errors
    assert check.definition is not None
    data = check.definition.as_dict()
    assert data["fields"][5]["relevant"] == {"field": "plot", "in": ["demo"]}
    assert data["fields"][1]["unit"] is None and data["fields"][1]["hint"] == {}
    assert data["indicators"][1]["direction"] == "increase"
    assert validate_form(data).definition == check.definition


@pytest.mark.parametrize("shipped", SHIPPED_FORMS, ids=lambda f: f["code"])
def test_the_shipped_forms_are_valid_and_in_four_languages(shipped: dict[str, Any]) -> None:
    check = validate_form(shipped)
    assert check.ok, check.errors
    assert check.definition is not None and check.definition.as_dict() == shipped
    for labels in [shipped["title"]] + [f["label"] for f in shipped["fields"]]:
        assert set(labels) == {"en", "fr", "pt", "es"}


def test_shipped_indicator_codes_are_unique_across_forms() -> None:
    codes = [i["code"] for f in SHIPPED_FORMS for i in f["indicators"]]
    assert len(codes) == len(set(codes)) == 8


def _set(path: list[Any], value: Any) -> dict[str, Any]:
    form = copy.deepcopy(_form())
    target: Any = form
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return form


_DELETE = object()

CASES = [
    (["code"], "demo_test", "code", ErrorCode.NOT_UPPER_SNAKE),
    (["code"], None, "code", ErrorCode.REQUIRED),
    (["title"], {"fr": "x"}, "title.en", ErrorCode.REQUIRED),
    (["extra"], 1, "extra", ErrorCode.UNKNOWN_FIELD),
    (["fields"], [], "fields", ErrorCode.REQUIRED),
    (["fields", 1, "name"], "Area", "fields[1].name", ErrorCode.NOT_SNAKE_CASE),
    (["fields", 1, "name"], "plot", "fields[1].name", ErrorCode.DUPLICATE_NAME),
    (["fields", 1, "type"], "number", "fields[1].type", ErrorCode.UNKNOWN_CODE),
    (["fields", 1, "label"], {"fr": "Surface"}, "fields[1].label.en", ErrorCode.REQUIRED),
    (["fields", 1, "hint"], {"fr": "Surface"}, "fields[1].hint.en", ErrorCode.REQUIRED),
    (["fields", 1, "min"], 10, "fields[1].min", ErrorCode.MIN_ABOVE_MAX),
    (["fields", 1, "min"], "one", "fields[1].min", ErrorCode.NOT_NUMBER),
    (["fields", 2, "min"], 10**400, "fields[2].min", ErrorCode.VALUE_RANGE),
    (["fields", 1, "max"], float("inf"), "fields[1].max", ErrorCode.VALUE_RANGE),
    (["indicators", 0, "factor"], 10**400, "indicators[0].factor", ErrorCode.NOT_NUMBER),
    (["fields", 2, "min"], 0.5, "fields[2].min", ErrorCode.NOT_INTEGER),
    (["fields", 3, "min"], "2020-13-01", "fields[3].min", ErrorCode.BAD_DATE),
    (["fields", 4, "min"], 1, "fields[4].min", ErrorCode.NOT_FOR_TYPE),
    (["fields", 5, "max"], 3, "fields[5].max", ErrorCode.NOT_FOR_TYPE),
    (
        ["fields", 4, "choices"],
        [{"code": "a", "label": {"en": "A"}}],
        "fields[4].choices",
        ErrorCode.NOT_FOR_TYPE,
    ),
    (["fields", 0, "choices"], [], "fields[0].choices", ErrorCode.TOO_FEW_CHOICES),
    (
        ["fields", 0, "choices", 1, "code"],
        "demo",
        "fields[0].choices[1].code",
        ErrorCode.DUPLICATE_NAME,
    ),
    (["fields", 0, "choices", 1, "label"], {}, "fields[0].choices[1].label.en", ErrorCode.REQUIRED),
    (["fields", 0, "required"], "yes", "fields[0].required", ErrorCode.NOT_BOOLEAN),
    (
        ["fields", 5, "relevant"],
        {"field": "nowhere", "in": ["a"]},
        "fields[5].relevant.field",
        ErrorCode.UNKNOWN_FIELD_REF,
    ),
    (
        ["fields", 5, "relevant"],
        {"field": "ok", "in": ["a"]},
        "fields[5].relevant.field",
        ErrorCode.WRONG_FIELD_TYPE,
    ),
    (
        ["fields", 5, "relevant"],
        {"field": "plot", "in": ["other"]},
        "fields[5].relevant.in[0]",
        ErrorCode.UNKNOWN_CODE,
    ),
    (
        ["fields", 5, "relevant"],
        {"field": "plot", "in": []},
        "fields[5].relevant.in",
        ErrorCode.REQUIRED,
    ),
    (
        ["indicators", 0, "code"],
        "WOMEN_SHARE",
        "indicators[0].code",
        ErrorCode.INDICATOR_CODE_TAKEN,
    ),
    (["indicators", 1, "code"], "TEST_YIELD", "indicators[1].code", ErrorCode.DUPLICATE_NAME),
    (["indicators", 0, "code"], "test_yield", "indicators[0].code", ErrorCode.NOT_UPPER_SNAKE),
    (["indicators", 0, "aggregate"], "average", "indicators[0].aggregate", ErrorCode.UNKNOWN_CODE),
    (["indicators", 0, "numerator"], "plot", "indicators[0].numerator", ErrorCode.WRONG_FIELD_TYPE),
    (
        ["indicators", 0, "denominator"],
        "gone",
        "indicators[0].denominator",
        ErrorCode.UNKNOWN_FIELD_REF,
    ),
    (["indicators", 0, "denominator"], _DELETE, "indicators[0].denominator", ErrorCode.REQUIRED),
    (["indicators", 0, "factor"], 0, "indicators[0].factor", ErrorCode.NOT_NUMBER),
    (["indicators", 0, "field"], "ok", "indicators[0].field", ErrorCode.NOT_FOR_TYPE),
    (["indicators", 0, "compare"], "practice", "indicators[0].compare", ErrorCode.WRONG_FIELD_TYPE),
    (["indicators", 0, "direction"], "down", "indicators[0].direction", ErrorCode.UNKNOWN_CODE),
    (["indicators", 0, "name"], {}, "indicators[0].name.en", ErrorCode.REQUIRED),
    (["indicators", 1, "field"], "area_m2", "indicators[1].field", ErrorCode.WRONG_FIELD_TYPE),
    (["indicators", 1, "choice"], "demo", "indicators[1].choice", ErrorCode.NOT_FOR_TYPE),
]


@pytest.mark.parametrize(
    ("path", "value", "field", "code"), CASES, ids=[f"{c[2]}-{c[3]}" for c in CASES]
)
def test_each_rule_names_its_path_and_code(
    path: list[Any], value: Any, field: str, code: ErrorCode
) -> None:
    check = validate_form(_set(path, value))
    assert not check.ok and check.definition is None
    assert (field, code) in [(i.field, i.code) for i in check.errors], check.errors


def test_numeric_aggregates_need_a_numeric_field() -> None:
    form = _form()
    form["indicators"] = [
        {"code": f"T_{agg.upper()}", "name": {"en": "x"}, "aggregate": agg, "field": "plot"}
        for agg in ("sum", "mean", "median", "min", "max")
    ]
    check = validate_form(form)
    assert [(i.field, i.code) for i in check.errors] == [
        (f"indicators[{n}].field", ErrorCode.WRONG_FIELD_TYPE) for n in range(5)
    ]
    for indicator in form["indicators"]:
        indicator["field"] = "harvest_kg"
    assert validate_form(form).ok


def test_a_share_of_a_select_needs_one_of_its_choices() -> None:
    form = _form()
    form["indicators"] = [
        {"code": "T_DEMO", "name": {"en": "x"}, "aggregate": "share", "field": "plot"}
    ]
    assert [(i.field, i.code) for i in validate_form(form).errors] == [
        ("indicators[0].choice", ErrorCode.REQUIRED)
    ]
    form["indicators"][0]["choice"] = "nope"
    assert validate_form(form).errors[0].code == ErrorCode.UNKNOWN_CODE
    form["indicators"][0]["choice"] = "demo"
    assert validate_form(form).ok


def test_compare_needs_two_choices_and_count_takes_no_field() -> None:
    form = _form()
    form["fields"][0]["choices"] = form["fields"][0]["choices"][:1]
    form["fields"][5]["relevant"] = None
    check = validate_form(form)
    assert [(i.field, i.code) for i in check.errors] == [
        ("indicators[0].compare", ErrorCode.TOO_FEW_CHOICES)
    ]
    form = _form()
    form["indicators"] = [{"code": "T_N", "name": {"en": "n"}, "aggregate": "count", "field": "ok"}]
    assert validate_form(form).errors[0].field == "indicators[0].field"


def test_relevance_must_point_to_an_earlier_field() -> None:
    """A field further down is a matter of order (move it up), told apart from a name the form
    does not have at all, and from the field itself."""
    form = _form()
    form["fields"][0]["relevant"] = {"field": "practice", "in": ["x"]}
    [problem] = [i for i in validate_form(form).errors if i.field == "fields[0].relevant.field"]
    assert problem.code == ErrorCode.LATER_FIELD_REF
    assert "'practice' comes after this one" in problem.message
    for elsewhere in ("nowhere", form["fields"][0]["name"]):
        form["fields"][0]["relevant"] = {"field": elsewhere, "in": ["x"]}
        assert ("fields[0].relevant.field", ErrorCode.UNKNOWN_FIELD_REF) in [
            (i.field, i.code) for i in validate_form(form).errors
        ]


def test_codes_taken_by_other_forms_are_refused() -> None:
    check = validate_form(_form(), taken_indicator_codes={"TEST_OK"})
    assert [(i.field, i.code) for i in check.errors] == [
        ("indicators[1].code", ErrorCode.INDICATOR_CODE_TAKEN)
    ]


def test_not_an_object_and_hostile_sizes() -> None:
    assert validate_form([1]).errors[0].code == ErrorCode.NOT_OBJECT
    form = _form()
    form["fields"] = [dict(form["fields"][1], name=f"f{i}") for i in range(201)]
    assert validate_form(form).errors[0].code == ErrorCode.TOO_MANY
    form = _form()
    form["fields"][1]["label"]["en"] = "x" * 501
    assert validate_form(form).errors[0].code == ErrorCode.TOO_LONG


def test_a_units_own_translations_are_optional_and_checked() -> None:
    """``unit_label`` (docs/results.md#units): any languages, no English needed (the unit is
    the English), only with a unit; written only when given, so definitions without it keep
    their shape."""
    plain = validate_form(_form()).definition
    assert plain is not None
    assert all("unit_label" not in f for f in plain.as_dict()["fields"])
    data = _form()
    data["fields"][2] |= {"unit": "sacks", "unit_label": {"fr": "sacs", "sw": "magunia"}}
    check = validate_form(data)
    assert check.definition is not None, check.errors
    assert check.definition.as_dict()["fields"][2]["unit_label"] == {"fr": "sacs", "sw": "magunia"}
    for bad, path, code in (
        ({"unit_label": {"fr": "sacs"}}, "fields[2].unit_label", ErrorCode.NOT_FOR_TYPE),
        ({"unit": "sacks", "unit_label": "sacs"}, "fields[2].unit_label", ErrorCode.NOT_OBJECT),
        ({"unit": "sacks", "unit_label": {"fr": "x" * 33}}, "fields[2].unit_label.fr", None),
        ({"unit": "sacks", "unit_label": {"French": "sacs"}}, "fields[2].unit_label.French", None),
    ):
        data = _form()
        data["fields"][2] |= bad
        errors = validate_form(data).errors
        assert [e.field for e in errors] == [path], (bad, errors)
        if code is not None:
            assert errors[0].code == code


def test_a_bound_may_name_an_earlier_field_of_its_kind() -> None:
    """``"max": "${harvest_kg}"``: XLSForm's reference, checked against the answers."""
    form = _form()
    form["fields"].append(
        {"name": "sold_kg", "type": "integer", "label": {"en": "Sold"}, "max": " ${harvest_kg} "}
    )
    form["fields"].append(
        {"name": "harvested", "type": "date", "label": {"en": "Harvested"}, "min": "${sown}"}
    )
    check = validate_form(form)
    assert check.ok, check.errors
    assert check.definition is not None
    fields = check.definition.as_dict()["fields"]
    assert (fields[6]["max"], fields[7]["min"]) == ("${harvest_kg}", "${sown}")
    assert validate_form(check.definition.as_dict()).definition == check.definition

    def refused(bound: dict[str, Any], type_: str = "integer") -> set[tuple[str, str]]:
        bad = _form()
        bad["fields"].insert(
            2, {"name": "x", "type": type_, "label": {"en": "X"}, **bound}
        )  # after area_m2 and plot, before harvest_kg and sown
        return {(e.field, str(e.code)) for e in validate_form(bad).errors}

    assert refused({"max": "${harvest_kg}"}) == {("fields[2].max", "later_field_ref")}
    assert refused({"max": "${nowhere}"}) == {("fields[2].max", "unknown_field_ref")}
    assert refused({"min": "${plot}"}) == {("fields[2].min", "wrong_field_type")}
    assert refused({"min": "${area_m2}"}, "date") == {("fields[2].min", "wrong_field_type")}
    assert refused({"max": "${area_m2}"}, "text") == {("fields[2].max", "not_for_type")}
    # a reference is not a number to compare with the other bound
    assert refused({"min": 5, "max": "${area_m2}"}) == set()
