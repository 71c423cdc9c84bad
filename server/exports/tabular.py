"""Tables out: CSV streamed in chunks, XLSX written row by row (openpyxl write-only mode).

Both take a header and rows of plain values. CSV writes ISO dates, ``true``/``false`` and empty
cells for null; XLSX keeps the types (numbers, booleans, dates), bolds and freezes the header.

Every file a spreadsheet may open goes through here, so this is where typed text is kept from
becoming a formula (OWASP "CSV injection"): a title such as ``=HYPERLINK("http://…?"&B2, …)``
would otherwise run in the reader's Excel. A text cell starting with ``= + - @``, a tab or a
carriage return is written as text: prefixed with ``'`` in CSV, and in XLSX kept as typed in an
explicit string cell with Excel's quote prefix (so editing it does not turn it into a formula
either). Numbers are never touched: ``-3`` stays a number.
"""

from __future__ import annotations

import csv
import io
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from server.columns import as_utc

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CHUNK_ROWS = 500
# Kept in memory up to this size, then spilled to a temporary file.
_SPOOL_BYTES = 16 * 1024 * 1024


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def formula_like(value: Any) -> bool:
    """Whether ``value`` is text a spreadsheet would read as a formula."""
    return isinstance(value, str) and value.startswith(_FORMULA_START)


def csv_text(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet runs: formula-like text gets a ``'``."""
    return "'" + value if formula_like(value) else value


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        # Every stored time is UTC; SQLite hands it back naive. Written with its offset either
        # way, so the file is the same on both backends and says which zone it is in.
        return (as_utc(value) or value).astimezone(UTC).isoformat()
    if isinstance(value, date | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return csv_text("; ".join(str(v) for v in value))
    return csv_text(value)


def csv_chunks(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """UTF-8 CSV with a header, in chunks of a few hundred rows (a byte-order mark first, so
    that Excel opens accented names correctly)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_text(c) for c in columns])
    pending = 1
    first = True
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
        pending += 1
        if pending >= _CHUNK_ROWS:
            yield (("\ufeff" if first else "") + buffer.getvalue()).encode("utf-8")
            first = False
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending or first:
        yield (("\ufeff" if first else "") + buffer.getvalue()).encode("utf-8")


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # Excel has no time zones: write UTC wall time.
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return value


def xlsx_cell(sheet: Any, value: Any) -> Any:
    """``value`` for ``sheet.append``; formula-like text as an explicit, quote-prefixed string
    cell (openpyxl would otherwise store any text starting with ``=`` as a formula)."""
    value = _xlsx_value(value)
    return _cell(sheet, value) if formula_like(value) else value


def _cell(sheet: Any, value: Any) -> Any:
    cell = WriteOnlyCell(sheet, value=value)
    if formula_like(value):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


def xlsx_file(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    widths: dict[str, int] | None = None,
    labels: Sequence[str] | None = None,
) -> IO[bytes]:
    """An XLSX workbook with one sheet, rewound and ready to stream; ``labels``, when given,
    is a second header row (the observations export's field labels)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.freeze_panes = "A3" if labels is not None else "A2"
    for index, name in enumerate(columns, start=1):
        # wide enough for the header and its label (up to 40), unless the caller says
        label = labels[index - 1] if labels is not None and index <= len(labels) else ""
        longest = max(len(name), len(str(label)))
        width = (widths or {}).get(name, max(10, min(40, longest + 4)))
        sheet.column_dimensions[get_column_letter(index)].width = width
    bold = Font(bold=True)
    header = []
    for name in columns:
        cell = _cell(sheet, name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    if labels is not None:
        sheet.append([_cell(sheet, label) for label in labels])
    for row in rows:
        sheet.append([xlsx_cell(sheet, v) for v in row])
    out = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
    workbook.save(out)
    out.seek(0)
    return out


def file_chunks(handle: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    """Stream an open file, closing it at the end."""
    try:
        while chunk := handle.read(size):
            yield chunk
    finally:
        handle.close()
