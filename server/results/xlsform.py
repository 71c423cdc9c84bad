"""XLSForm import (docs/results.md#forms): an ODK/KoboToolbox/SurveyCTO workbook read into a
form definition, accepting exactly the documented subset and refusing everything else with the
sheet, the row, the column and the reason.

Reading: pyxform's own spreadsheet conventions (``pyxform.xls2json_backends``: its header
cleaning ``get_excel_column_headers`` — duplicate headers refused, whitespace folded —, its row
reader ``get_excel_rows`` — empty rows kept so row numbers stay true, a run of empty rows ends
the sheet — and its cell-to-text rule ``xlsx_value_to_str``) over openpyxl's read-only
``ExcelReader``, which pyxform's ``xlsx_to_dict`` uses too. We do not call ``xlsx_to_dict``
itself because it drops every sheet it does not know, and the ``indicators`` sheet is ours,
and it reads every row of a sheet where we stop at ``MAX_ROWS``. We do not convert to an XForm
(``xls2xform``): we need the subset's own shape, not XPath, and pyxform would accept (and we
would then have to drop) much more than we support.

Hostile input: the upload is at most ``PILOTMON_MAX_XLSFORM_BYTES``; the archive's entries are
checked before anything is inflated (at most ``MAX_UNZIPPED_BYTES`` in all, no more than
``MAX_ENTRIES``); each sheet is read up to ``MAX_ROWS`` rows and ``MAX_COLUMNS`` columns. A file
that is not a workbook is a 422 ``xlsform_unreadable``, never a 5xx.

Spreadsheet → definition:

- ``settings``: ``form_id`` (upper-cased: ``demo_plot_harvest`` → ``DEMO_PLOT_HARVEST``),
  ``form_title[::Language (xx)]``, ``version`` (informational: the server numbers versions).
- ``survey``: ``type name label[::Language (xx)] hint[::…] required constraint relevant`` and
  our own ``unit``. ``label`` without a language is English. Types ``integer decimal text date
  select_one L select_multiple L boolean acknowledge`` (``acknowledge`` → ``boolean``).
  ``required``: yes/no as pyxform reads them. ``constraint``: ``. >= a``, ``. <= b`` or both
  joined by ``and`` (dates as ``date('2020-01-01')`` or ``'2020-01-01'``; ``a`` or ``b`` may be
  an earlier field, ``${farmers_visited}``). ``unit::Language
  (xx)`` columns are the unit's translations (``unit_label``). ``relevant``:
  ``${f} = 'c'`` or ``selected(${f}, 'c')``, joined by ``or``, all about one field.
- ``choices``: ``list_name name label[::…]``.
- ``indicators``: ``code name[::…] unit[::…] aggregate field numerator denominator factor
  choice compare direction``.

Each refusal is a ``Problem``: where (sheet, row, column), an English ``reason``, and a stable
``problem`` key with its ``params`` (``PROBLEMS``) from which clients choose their own words.
"""

from __future__ import annotations

import io
import itertools
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openpyxl.reader.excel import ExcelReader
from pyxform.aliases import yes_no
from pyxform.errors import PyXFormError
from pyxform.xls2json_backends import get_excel_column_headers, get_excel_rows, xlsx_value_to_str

from server.errors import PilotMonitorError
from shared.errors import ErrorCode, Issue
from shared.forms import MAX_FIELDS, MAX_INDICATORS, validate_form

MAX_ROWS = 2_000  # per sheet
MAX_COLUMNS = 100
MAX_ENTRIES = 200  # files in the .xlsx archive
MAX_UNZIPPED_BYTES = 64 * 1024 * 1024
# Cells (``<c>`` elements) a part may hold, counted before openpyxl reads it: a sheet we read
# has at most MAX_ROWS x MAX_COLUMNS, and no row of a real workbook more than Excel's 16 384
# columns (A to XFD). openpyxl builds a row's every cell before we can stop it: a 190 KB upload
# of one row of 1.4 million cells took 130 s and 1.4 GiB.
MAX_CELLS = MAX_ROWS * MAX_COLUMNS
MAX_ROW_CELLS = 16_384
SHEETS = ("survey", "choices", "settings", "indicators")

_LANG_COLUMN = re.compile(
    r"^(label|hint|form_title|name|unit)::(?:.*\((?P<paren>[A-Za-z]{2,3})\)|(?P<bare>[A-Za-z]{2,3}))\s*$"
)
_NUMBER = r"-?\d{1,16}(?:\.\d{1,16})?"  # longer is refused (and never reaches int())
_DATE = r"\d{4}-\d{2}-\d{2}"
_BOUND = re.compile(
    rf"^\.\s*(?P<op>>=|<=)\s*(?:(?P<num>{_NUMBER})|date\(\s*'(?P<date1>{_DATE})'\s*\)|'(?P<date2>{_DATE})'"
    r"|\$\{(?P<ref>[A-Za-z_][A-Za-z0-9_]*)\})$"
)
_EQUALS = re.compile(r"^\$\{(?P<field>[A-Za-z_][A-Za-z0-9_]*)\}\s*=\s*'(?P<code>[^']*)'$")
_SELECTED = re.compile(
    r"^selected\(\s*\$\{(?P<field>[A-Za-z_][A-Za-z0-9_]*)\}\s*,\s*'(?P<code>[^']*)'\s*\)$"
)
_SELECT = re.compile(
    r"^(?P<kind>select_one|select_multiple|select one|select multiple)\s+(?P<list>\S+)$"
)
_SIMPLE_TYPES = {
    "integer": "integer",
    "int": "integer",
    "decimal": "decimal",
    "text": "text",
    "string": "text",
    "date": "date",
    "boolean": "boolean",
    "acknowledge": "boolean",
}
# The columns that take a language (``label::French (fr)``), by sheet.
_TRANSLATED: dict[str, tuple[str, ...]] = {
    "survey": ("label", "hint", "unit"),
    "choices": ("label",),
    "settings": ("form_title",),
    "indicators": ("name", "unit"),
}
_SURVEY_COLUMNS = {"type", "name", "label", "hint", "required", "constraint", "relevant", "unit"}
_CHOICE_COLUMNS = {"list_name", "name", "label"}
_SETTINGS_COLUMNS = {"form_id", "version", "form_title"}
_INDICATOR_COLUMNS = {
    "code",
    "name",
    "unit",
    "aggregate",
    "field",
    "numerator",
    "denominator",
    "factor",
    "choice",
    "compare",
    "direction",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a workbook is refused. ``reason`` is English (the API's ``message``);
    ``problem`` is its stable key and ``params`` its values, from which a client chooses its
    own words (docs/errors.md#body-shapes): see ``PROBLEMS``."""

    sheet: str
    row: int | None
    column: str | None
    reason: str
    code: ErrorCode
    problem: str = "definition"
    params: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        where = self.sheet + (f"[{self.row}]" if self.row else "")
        return {
            "field": f"{where}.{self.column}" if self.column else where,
            "code": str(self.code),
            "message": self.reason,
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "reason": self.reason,
            "problem": self.problem,
            "params": dict(self.params),
        }


# Every ``Problem.problem`` and the ``params`` it carries (docs/errors.md#body-shapes).
PROBLEMS: dict[str, tuple[str, ...]] = {
    "not_a_workbook": ("why",),  # why: xls png jpeg pdf not_zip damaged empty
    "too_many_parts": ("limit",),
    "too_many_cells": ("limit",),
    "unzips_too_large": ("limit",),
    "too_large": ("limit",),
    "headers": ("detail",),  # pyxform's own message
    "sheet_unsupported": ("sheet",),
    "too_many_columns": ("limit",),
    "too_many_rows": ("limit",),
    "column_unsupported": ("header",),
    "column_language": ("header",),
    "settings_one_row": (),
    "settings_missing": (),
    "survey_missing": (),
    "list_name_empty": (),
    "list_missing": ("list",),
    "list_unused": ("list",),
    "type_unsupported": ("type",),
    "required_not_yes_no": ("value",),
    "constraint_for_type": ("type",),
    "constraint_form": ("constraint",),
    "constraint_type": ("constraint", "type"),
    "two_lower_bounds": (),
    "two_upper_bounds": (),
    "relevant_form": ("relevant",),
    "relevant_one_field": (),
    "not_a_number": ("value",),
    "definition": ("path",),  # a rule of shared.forms; its ``code`` says which
    # another form (or an activity indicator) has this indicator code already
    "indicator_code_taken": ("code", "path"),
}


class XLSFormRefused(PilotMonitorError):
    """422: the workbook is unreadable or outside the subset; ``detail`` lists each problem as
    ``{field, code, message, sheet, row, column, reason}`` (``field`` is ``sheet[row].column``)."""

    status_code = 422

    def __init__(self, problems: list[Problem], *, also: Sequence[Issue] = ()) -> None:
        # ``also``: the request's other problems (an unknown ``project``), named first
        self.problems = problems
        self.also = list(also)
        first = problems[0]
        if self.also:
            super().__init__(
                f"{self.also[0].field}: {self.also[0].message}", code=ErrorCode(self.also[0].code)
            )
        else:
            super().__init__(_line(first), code=first.code)

    def detail(self) -> Any:
        return [i.as_dict() for i in self.also] + [p.as_dict() for p in self.problems]

    def lines(self) -> list[str]:
        return [_line(p) for p in self.problems]


def _line(p: Problem) -> str:
    where = (
        p.sheet + (f" row {p.row}" if p.row else "") + (f" column {p.column}" if p.column else "")
    )
    return f"{where}: {p.reason}"


# --- reading the workbook -------------------------------------------------------------------

Row = tuple[int, dict[str, str]]  # (spreadsheet row number, {column: text})


NOT_A_WORKBOOK = "this file is not an Excel workbook (.xlsx) that pyxform can read"
SAVE_AGAIN = "open the form in Excel or LibreOffice and save it as Excel Workbook (.xlsx)"
# What the first bytes of a file that is not a zip say it is.
_SIGNATURES = {
    b"\xd0\xcf\x11\xe0": "xls",
    b"\x89PNG": "png",
    b"\xff\xd8\xff": "jpeg",
    b"%PDF": "pdf",
}
# Why a file is not a workbook, in English (the ``why`` of problem ``not_a_workbook``).
WHY: dict[str, str] = {
    "xls": "it is an old Excel 97-2003 (.xls) file",
    "png": "it is a PNG image",
    "jpeg": "it is a JPEG image",
    "pdf": "it is a PDF document",
    "not_zip": "it is not a zip archive, or it is cut short",
    "damaged": "a part of the workbook is missing or damaged",
    "empty": "the file is empty",
}


def _unreadable(reason: str, problem: str, **params: str) -> XLSFormRefused:
    return XLSFormRefused(
        [Problem("file", None, None, reason, ErrorCode.XLSFORM_UNREADABLE, problem, params)]
    )


def _not_a_workbook(why: str) -> XLSFormRefused:
    """The admin's next step, in words (the exception behind it stays in the log's chain)."""
    return _unreadable(f"{NOT_A_WORKBOOK}: {WHY[why]}; {SAVE_AGAIN}", "not_a_workbook", why=why)


def _check_archive(data: bytes) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        what = next((w for sig, w in _SIGNATURES.items() if data.startswith(sig)), None)
        raise _not_a_workbook(what or "not_zip") from exc
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise _unreadable(
                f"the workbook has more than {MAX_ENTRIES} parts",
                "too_many_parts",
                limit=str(MAX_ENTRIES),
            )
        if sum(e.file_size for e in entries) > MAX_UNZIPPED_BYTES:
            raise _unreadable(
                f"the workbook unzips to more than {MAX_UNZIPPED_BYTES} bytes",
                "unzips_too_large",
                limit=str(MAX_UNZIPPED_BYTES),
            )
        for entry in entries:
            _check_cells(archive, entry)


# A cell's or a row's start tag, with any namespace prefix (``<c r="A1">``, ``<x:row>``).
_CELL_OR_ROW = re.compile(rb"<(?:[^\s<>/!?:]*:)?(c|row)[\s/>]")
_SCAN_CHUNK = 1024 * 1024
_SCAN_HOLD = 64 * 1024  # a start tag longer than this is decided on what came of it


def _check_cells(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> None:
    """Refuse a part with more than MAX_CELLS cells, or a row of more than MAX_ROW_CELLS,
    streaming it (inflated at most to its declared size, which the total above bounds)."""
    cells = row_cells = 0
    pending = b""
    try:
        part = archive.open(entry)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError) as exc:
        raise _not_a_workbook("damaged") from exc
    with part:
        while True:
            try:
                chunk = part.read(_SCAN_CHUNK)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
                raise _not_a_workbook("damaged") from exc
            data = pending + chunk
            # Tags before the last "<" are whole (no tag holds a "<"); the rest waits.
            cut = data.rfind(b"<") if chunk else len(data)
            if chunk and cut == 0 and len(data) < _SCAN_HOLD:
                pending = data
                continue
            if cut <= 0:
                cut = len(data)
            for found in _CELL_OR_ROW.finditer(data, 0, cut):
                if found.group(1) == b"row":
                    row_cells = 0
                    continue
                cells += 1
                row_cells += 1
                if cells > MAX_CELLS or row_cells > MAX_ROW_CELLS:
                    limit = MAX_CELLS if cells > MAX_CELLS else MAX_ROW_CELLS
                    raise _unreadable(
                        f"the workbook has a sheet or a row of more than {limit} cells",
                        "too_many_cells",
                        limit=str(limit),
                    )
            pending = data[cut:]
            if not chunk:
                return


def _clean_cell(cell: Any, _row: int, _key: str) -> str | None:
    value = cell.value
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        return None
    return xlsx_value_to_str(value)


class _ReadOnlyCell:
    """pyxform's row reader wants cells with ``.value``; read-only rows may hold
    ``EmptyCell``s, which have one too, so this only wraps plain values."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _read_sheet(sheet: Any, name: str, problems: list[Problem]) -> list[Row]:
    first = next(sheet.iter_rows(min_row=1, max_row=1, values_only=True), ())
    if len(first) > MAX_COLUMNS and any(v not in (None, "") for v in first[MAX_COLUMNS:]):
        problems.append(
            Problem(
                name,
                1,
                None,
                f"more than {MAX_COLUMNS} columns",
                ErrorCode.TOO_MANY,
                "too_many_columns",
                {"limit": str(MAX_COLUMNS)},
            )
        )
        return []
    headers = get_excel_column_headers(
        str(v) if v is not None and not isinstance(v, str) else v for v in first[:MAX_COLUMNS]
    )
    rows = sheet.iter_rows(min_row=2, max_col=max(len(headers), 1), values_only=True)
    limited = itertools.islice(rows, MAX_ROWS + 1)
    wrapped = (tuple(_ReadOnlyCell(v) for v in row) for row in limited)
    read = get_excel_rows(headers=headers, rows=wrapped, cell_func=_clean_cell)
    if len(read) > MAX_ROWS:
        problems.append(
            Problem(
                name,
                MAX_ROWS + 2,
                None,
                f"more than {MAX_ROWS} rows",
                ErrorCode.TOO_MANY,
                "too_many_rows",
                {"limit": str(MAX_ROWS)},
            )
        )
        return []
    return [(i + 2, row) for i, row in enumerate(read) if row]


def read_workbook(data: bytes) -> dict[str, list[Row]]:
    """The four sheets we read, as numbered rows of text; other sheets are refused."""
    _check_archive(data)
    problems: list[Problem] = []
    sheets: dict[str, list[Row]] = {}
    try:
        reader = ExcelReader(io.BytesIO(data), read_only=True, data_only=True)
        reader.read()
        try:
            for title in reader.wb.sheetnames:
                name = title.strip().lower()
                if name not in SHEETS:
                    problems.append(
                        Problem(
                            title,
                            None,
                            None,
                            f"sheet {title!r} is not supported (only {', '.join(SHEETS)})",
                            ErrorCode.XLSFORM_UNSUPPORTED,
                            "sheet_unsupported",
                            {"sheet": title},
                        )
                    )
                    continue
                sheets[name] = _read_sheet(reader.wb[title], name, problems)
        finally:
            reader.wb.close()
            reader.archive.close()
    except XLSFormRefused:
        raise
    except PyXFormError as exc:  # a duplicate column header, for one
        raise _unreadable(str(exc), "headers", detail=str(exc)) from exc
    except Exception as exc:  # openpyxl raises anything at all on a corrupt workbook
        raise _not_a_workbook("damaged") from exc
    if problems:
        raise XLSFormRefused(problems)
    return sheets


# --- rows → definition ----------------------------------------------------------------------


class _Reader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        # Where each part of the definition came from, to place validation errors.
        self.field_rows: list[int] = []
        self.choice_rows: list[list[int]] = []
        self.indicator_rows: list[int] = []
        self.settings_row: int | None = None
        # Survey rows left out of the definition (their problem is named): the names they
        # declared, so that what refers to them is not also called unknown.
        self.skipped_fields: set[str] = set()

    def refuse(
        self,
        sheet: str,
        row: int | None,
        column: str | None,
        reason: str,
        problem: str,
        code: ErrorCode = ErrorCode.XLSFORM_UNSUPPORTED,
        **params: str,
    ) -> None:
        self.problems.append(Problem(sheet, row, column, reason, code, problem, params))

    def columns(self, sheet: str, number: int, row: Mapping[str, str], allowed: set[str]) -> None:
        for column in row:
            base = column.split("::", 1)[0].strip()
            if base not in allowed:
                self.refuse(
                    sheet,
                    number,
                    column,
                    f"column {column!r} is not supported",
                    "column_unsupported",
                    header=column,
                )
            elif "::" in column and (
                base not in _TRANSLATED.get(sheet, ()) or not _LANG_COLUMN.match(column)
            ):
                self.refuse(
                    sheet,
                    number,
                    column,
                    f"column {column!r} is not supported (languages: label::English (en))",
                    "column_language",
                    header=column,
                )

    def labels(self, row: Mapping[str, str], base: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for column, value in row.items():
            if column == base:
                out.setdefault("en", value)
                continue
            match = _LANG_COLUMN.match(column)
            if match and match.group(1) == base:
                lang = (match.group("paren") or match.group("bare")).lower()
                out[lang] = value
        return out

    def unit(self, row: Mapping[str, str]) -> tuple[str | None, dict[str, str]]:
        """``unit`` and its translations (``unit::French (fr)`` columns): the plain column is
        the unit as the author writes it; without one, the English column is."""
        translations: dict[str, str] = {}
        for column, value in row.items():
            match = _LANG_COLUMN.match(column)
            if match and match.group(1) == "unit":
                translations[(match.group("paren") or match.group("bare")).lower()] = value
        unit = row.get("unit") or translations.get("en")
        return unit, translations


def _bounds(reader: _Reader, number: int, text: str, kind: str) -> tuple[Any, Any]:
    low = high = None
    for part in re.split(r"\s+and\s+", text.strip()):
        match = _BOUND.match(part.strip())
        if match is None:
            reader.refuse(
                "survey",
                number,
                "constraint",
                f"constraint {part!r} is not '. >= a' or '. <= b'",
                "constraint_form",
                constraint=part,
            )
            return None, None
        ref, raw = match.group("ref"), match.group("num")
        value: Any
        if ref is not None:
            # Another answer bounds this one; the form rules check that it is an earlier field
            # of a fitting type.
            value = "${" + ref + "}"
        elif (raw is None) != (kind == "date"):
            reader.refuse(
                "survey",
                number,
                "constraint",
                f"constraint {part!r} does not fit a {kind} field",
                "constraint_type",
                constraint=part,
                type=kind,
            )
            return None, None
        elif raw is None:
            value = match.group("date1") or match.group("date2")
        else:
            value = float(raw) if "." in raw else int(raw)
            if kind == "integer" and isinstance(value, float) and value.is_integer():
                value = int(value)
        if match.group("op") == ">=":
            if low is not None:
                reader.refuse(
                    "survey", number, "constraint", "two lower bounds", "two_lower_bounds"
                )
            low = value
        else:
            if high is not None:
                reader.refuse(
                    "survey", number, "constraint", "two upper bounds", "two_upper_bounds"
                )
            high = value
    return low, high


def _relevance(reader: _Reader, number: int, text: str) -> dict[str, Any] | None:
    field: str | None = None
    codes: list[str] = []
    for part in re.split(r"\s+or\s+", text.strip()):
        part = part.strip()
        while part.startswith("(") and part.endswith(")") and not part.startswith("selected("):
            part = part[1:-1].strip()
        match = _EQUALS.match(part) or _SELECTED.match(part)
        if match is None:
            reader.refuse(
                "survey",
                number,
                "relevant",
                f"relevant {part!r} is not ${{f}} = 'c' or selected(${{f}}, 'c')",
                "relevant_form",
                relevant=part,
            )
            return None
        if field is not None and match.group("field") != field:
            reader.refuse(
                "survey",
                number,
                "relevant",
                "relevant may name only one field",
                "relevant_one_field",
            )
            return None
        field = match.group("field")
        codes.append(match.group("code"))
    return {"field": field, "in": codes} if field else None


def _number(reader: _Reader, sheet: str, number: int, column: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        reader.refuse(
            sheet,
            number,
            column,
            f"{text!r} is not a number",
            "not_a_number",
            ErrorCode.NOT_NUMBER,
            value=text,
        )
        return None
    return int(value) if value.is_integer() else value


def definition_from_sheets(sheets: Mapping[str, list[Row]]) -> tuple[dict[str, Any], _Reader]:
    reader = _Reader()
    # settings
    code: str | None = None
    title: dict[str, str] = {}
    settings = sheets.get("settings", [])
    for number, row in settings[:1]:
        reader.settings_row = number
        reader.columns("settings", number, row, _SETTINGS_COLUMNS)
        code = row.get("form_id", "").strip().upper() or None
        title = reader.labels(row, "form_title")
    for number, _row in settings[1:]:
        reader.refuse("settings", number, None, "settings has one row", "settings_one_row")
    if "settings" not in sheets:
        reader.refuse(
            "settings",
            None,
            None,
            "the settings sheet (form_id, form_title) is missing",
            "settings_missing",
            ErrorCode.REQUIRED,
        )
    # choices
    lists: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for number, row in sheets.get("choices", []):
        reader.columns("choices", number, row, _CHOICE_COLUMNS)
        list_name = row.get("list_name")
        if not list_name:
            reader.refuse(
                "choices",
                number,
                "list_name",
                "list_name is empty",
                "list_name_empty",
                ErrorCode.REQUIRED,
            )
            continue
        lists.setdefault(list_name, []).append(
            (number, {"code": row.get("name"), "label": reader.labels(row, "label")})
        )
    # survey
    fields: list[dict[str, Any]] = []
    if "survey" not in sheets:
        reader.refuse(
            "survey",
            None,
            None,
            "the survey sheet is missing",
            "survey_missing",
            ErrorCode.REQUIRED,
        )
    used_lists: set[str] = set()
    for number, row in sheets.get("survey", []):
        reader.columns("survey", number, row, _SURVEY_COLUMNS)
        if row.get("name"):  # until the row is read into a field
            reader.skipped_fields.add(row["name"])
        raw_type = " ".join(row.get("type", "").split())
        kind = _SIMPLE_TYPES.get(raw_type)
        choices: list[dict[str, Any]] = []
        choice_rows: list[int] = []
        select = _SELECT.match(raw_type)
        if select:
            kind = select.group("kind").replace(" ", "_")
            list_name = select.group("list")
            if list_name not in lists:
                reader.refuse(
                    "survey",
                    number,
                    "type",
                    f"no choice list {list_name!r} in choices",
                    "list_missing",
                    list=list_name,
                )
                continue
            used_lists.add(list_name)
            choice_rows = [n for n, _ in lists[list_name]]
            choices = [c for _, c in lists[list_name]]
        if kind is None:
            reader.refuse(
                "survey",
                number,
                "type",
                f"type {raw_type or '(empty)'!r} is not supported",
                "type_unsupported",
                type=raw_type,
            )
            continue
        required_text = row.get("required")
        required = False
        if required_text is not None:
            if required_text not in yes_no:
                reader.refuse(
                    "survey",
                    number,
                    "required",
                    f"required {required_text!r} is not yes or no",
                    "required_not_yes_no",
                    value=required_text,
                )
                continue
            required = yes_no[required_text]
        low = high = None
        if "constraint" in row:
            if kind not in ("integer", "decimal", "date"):
                reader.refuse(
                    "survey",
                    number,
                    "constraint",
                    f"a {kind} field takes no constraint",
                    "constraint_for_type",
                    type=kind,
                )
                continue
            low, high = _bounds(reader, number, row["constraint"], kind)
        relevant = _relevance(reader, number, row["relevant"]) if "relevant" in row else None
        unit, unit_label = reader.unit(row)
        fields.append(
            {
                "name": row.get("name"),
                "type": kind,
                "label": reader.labels(row, "label"),
                "hint": reader.labels(row, "hint"),
                "unit": unit,
                **({"unit_label": unit_label} if unit_label else {}),
                "required": required,
                "min": low,
                "max": high,
                "choices": choices,
                "relevant": relevant,
            }
        )
        reader.field_rows.append(number)
        reader.choice_rows.append(choice_rows)
        reader.skipped_fields.discard(row.get("name") or "")
    for list_name in lists:
        if list_name not in used_lists:
            number = lists[list_name][0][0]
            reader.refuse(
                "choices",
                number,
                "list_name",
                f"choice list {list_name!r} is not used by any question",
                "list_unused",
                list=list_name,
            )
    # indicators
    indicators: list[dict[str, Any]] = []
    for number, row in sheets.get("indicators", []):
        reader.columns("indicators", number, row, _INDICATOR_COLUMNS)
        indicator: dict[str, Any] = {
            key: row.get(key)
            for key in (
                "code",
                "aggregate",
                "field",
                "numerator",
                "denominator",
                "choice",
                "compare",
                "direction",
            )
        }
        indicator["name"] = reader.labels(row, "name")
        indicator["unit"], unit_label = reader.unit(row)
        if unit_label:
            indicator["unit_label"] = unit_label
        indicator["factor"] = _number(reader, "indicators", number, "factor", row.get("factor"))
        indicators.append(indicator)
        reader.indicator_rows.append(number)
    definition = {"code": code, "title": title, "fields": fields, "indicators": indicators}
    return definition, reader


_PATH = re.compile(
    r"^(?P<part>fields|indicators)\[(?P<i>\d+)\](?:\.choices\[(?P<j>\d+)\])?(?:\.(?P<rest>.*))?$"
)


def _place(reader: _Reader, path: str) -> tuple[str, int | None, str | None]:
    """Where a definition error's path lives in the workbook."""
    match = _PATH.match(path)
    if path == "fields":  # the questions as a whole (none, or too many): the survey sheet's
        rows = reader.field_rows
        return "survey", rows[MAX_FIELDS] if len(rows) > MAX_FIELDS else None, None
    if path == "indicators":
        rows = reader.indicator_rows
        return "indicators", rows[MAX_INDICATORS] if len(rows) > MAX_INDICATORS else None, None
    if match is None:
        column = {"code": "form_id", "title": "form_title"}.get(path.split(".")[0], path or None)
        if path.startswith("title."):
            lang = path.split(".", 1)[1]
            column = "form_title" if lang == "en" else f"form_title::{lang}"
        return "settings", reader.settings_row, column
    i = int(match.group("i"))
    rest = match.group("rest") or ""
    if rest.startswith("unit_label."):  # a translation of the unit: its own column
        rest = "unit::" + rest.split(".", 1)[1]
    if match.group("part") == "indicators":
        row = reader.indicator_rows[i] if i < len(reader.indicator_rows) else None
        return "indicators", row, rest.split(".")[0] or None
    if match.group("j") is not None:
        j = int(match.group("j"))
        rows = reader.choice_rows[i] if i < len(reader.choice_rows) else []
        column = rest.split(".")[0] if rest else None
        return "choices", rows[j] if j < len(rows) else None, "name" if column == "code" else column
    row = reader.field_rows[i] if i < len(reader.field_rows) else None
    column = rest.split(".")[0] if rest else None
    column = {"min": "constraint", "max": "constraint", "choices": "type"}.get(column or "", column)
    return "survey", row, column


# Where a definition error names a field by another path key: the field it names.
_REFERENCES = ("field", "numerator", "denominator", "compare")


def _about_skipped(reader: _Reader, definition: Mapping[str, Any], path: str) -> bool:
    """Whether a definition error is only that it names a survey row the reader left out
    (that row's own problem is named already)."""
    match = _PATH.match(path)
    if match is None or not reader.skipped_fields:
        return False
    items = definition.get(match.group("part")) or []
    i = int(match.group("i"))
    if i >= len(items):
        return False
    item, rest = items[i], match.group("rest") or ""
    key = rest.split(".")[0]
    names: list[Any] = []
    if match.group("part") == "fields":
        if key == "relevant":
            names.append((item.get("relevant") or {}).get("field"))
        elif key in ("min", "max") and isinstance(item.get(key), str):
            names.append(item[key].removeprefix("${").removesuffix("}"))
    elif key in _REFERENCES:
        names.append(item.get(key))
    elif key == "choice":
        names.extend(item.get(k) for k in ("field", "compare"))
    return any(name in reader.skipped_fields for name in names if isinstance(name, str))


def _definition_problems(
    reader: _Reader, definition: Mapping[str, Any], issues: Sequence[Issue]
) -> list[Problem]:
    """The form rules' problems (``shared.forms``), placed on their sheet, row and column,
    less those the reader's own problems already name: a row or a column it could not read,
    a sheet that is missing, a reference to a row it left out."""
    read = reader.problems
    too_many_fields = any(i.field == "fields" and i.code == ErrorCode.TOO_MANY for i in issues)
    problems: list[Problem] = []
    for issue in issues:
        sheet, row, column = _place(reader, issue.field)
        if any((r.sheet, r.row) == (sheet, row) and r.column in (column, None) for r in read):
            continue  # the reader's problem of this row (or cell) says it already
        if column is None and any((r.sheet, r.row) == (sheet, row) for r in read):
            continue
        if issue.field == "fields" and any(r.sheet == "survey" for r in read):
            continue  # no question read: the survey rows' problems say why
        if _about_skipped(reader, definition, issue.field):
            continue
        refers = issue.code in (ErrorCode.UNKNOWN_FIELD_REF, ErrorCode.WRONG_FIELD_TYPE)
        if too_many_fields and refers and issue.field.startswith("indicators["):
            continue  # the questions were not read at all: nothing can name one
        params: dict[str, str] = {"path": issue.field}
        problem = "definition"
        if issue.code == ErrorCode.INDICATOR_CODE_TAKEN:
            problem = "indicator_code_taken"
            match = _PATH.match(issue.field)
            items = definition.get("indicators") or []
            i = int(match.group("i")) if match else len(items)
            params["code"] = str(items[i].get("code")) if i < len(items) else ""
        problems.append(
            Problem(
                sheet,
                row,
                column,
                f"{issue.field}: {issue.message}",
                ErrorCode(issue.code),
                problem,
                params,
            )
        )
    return problems


def _in_order(problems: Iterable[Problem]) -> list[Problem]:
    """Each problem once, in the order of the sheets (``SHEETS``: the file's first, sheets we
    do not read last) and of their rows (a whole sheet's before its rows)."""
    order = {name: i for i, name in enumerate(("file", *SHEETS))}
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for p in problems:
        # a rule's problem once per cell (a choice list's code twice, for each question
        # that uses the list); the reader's once per reason
        said = None if p.problem in ("definition", "indicator_code_taken") else p.reason
        key = (p.sheet, p.row, p.column, p.code, p.problem, said)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return sorted(
        unique,
        key=lambda p: (order.get(p.sheet, len(order)), p.sheet, p.row is not None, p.row or 0),
    )


TakenCodes = Iterable[str] | Callable[[str], Iterable[str]]


def read_xlsform(
    data: bytes, *, limit: int, taken_indicator_codes: TakenCodes = ()
) -> dict[str, Any]:
    """The form definition an XLSForm holds (checked by ``shared.forms``), or
    ``XLSFormRefused`` naming every problem's sheet, row and column, all in one answer: the
    reader's and, once it could build a definition, the form rules' too.

    ``taken_indicator_codes``: the indicator codes other forms hold, or a function from the
    workbook's form code to them (``server.results.forms.taken_indicator_codes``: another
    version of the same code keeps its own)."""
    if len(data) > limit:
        too_large = XLSFormRefused(
            [
                Problem(
                    "file",
                    None,
                    None,
                    f"the file is larger than {limit} bytes",
                    ErrorCode.BODY_TOO_LARGE,
                    "too_large",
                    {"limit": str(limit)},
                )
            ]
        )
        too_large.status_code = 413
        raise too_large
    if not data:
        raise _not_a_workbook("empty")
    sheets = read_workbook(data)
    definition, reader = definition_from_sheets(sheets)
    if callable(taken_indicator_codes):
        taken = set(taken_indicator_codes(definition.get("code") or ""))
    else:
        taken = set(taken_indicator_codes)
    check = validate_form(definition, taken_indicator_codes=taken)
    problems = list(reader.problems)
    if check.definition is None:
        problems += _definition_problems(reader, definition, check.errors)
    if problems or check.definition is None:
        raise XLSFormRefused(_in_order(problems))
    return check.definition.as_dict()
