"""The one list of error codes: every 4xx answer, every rejected or conflicting push result and
every validation issue carries one, so that the dashboard and the tablet say what went wrong in
their reader's language without reading the English ``message`` (which stays, for scripts).

Codes are stable: a client may rely on them, so a code is never renamed or reused for another
meaning; new ones may be added. ``EXPLANATIONS`` says in one plain sentence what each code means;
it is the English source that the tablet's and the dashboard's catalogues translate. Standard
library only: this runs on Android.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


def N_(message: str) -> str:
    """Mark a message for the catalogues; it is translated where it is shown."""
    return message


class ErrorCode(StrEnum):
    # --- the shape of a value -------------------------------------------------------------
    REQUIRED = "required"
    PAIR_REQUIRED = "pair_required"
    NOT_OBJECT = "not_object"
    NOT_LIST = "not_list"
    NOT_TEXT = "not_text"
    NOT_INTEGER = "not_integer"
    NOT_NUMBER = "not_number"
    NOT_BOOLEAN = "not_boolean"
    TOO_LONG = "too_long"
    TOO_SHORT = "too_short"
    WEAK_PASSWORD = "weak_password"  # noqa: S105 - a name, not a password
    CONTROL_CHARACTER = "control_character"
    TOO_MANY = "too_many"
    UNKNOWN_FIELD = "unknown_field"
    INVALID = "invalid"
    # --- values ---------------------------------------------------------------------------
    UNKNOWN_CODE = "unknown_code"
    BAD_UUID = "bad_uuid"
    BAD_DATE = "bad_date"
    BAD_DATETIME = "bad_datetime"
    BAD_PERIOD = "bad_period"
    BAD_SHA256 = "bad_sha256"
    DATE_IMPLAUSIBLE = "date_implausible"
    COUNT_RANGE = "count_range"
    VALUE_RANGE = "value_range"
    ABOVE_FIELD = "above_field"
    BELOW_FIELD = "below_field"
    LAT_RANGE = "lat_range"
    LON_RANGE = "lon_range"
    ACCURACY_RANGE = "accuracy_range"
    BIRTH_YEAR_RANGE = "birth_year_range"
    STATUS_NOT_ALLOWED = "status_not_allowed"
    NOT_TARGETABLE = "not_targetable"
    # --- across fields or records ---------------------------------------------------------
    END_BEFORE_START = "end_before_start"
    IN_FUTURE = "in_future"
    OUTSIDE_PROJECT_DATES = "outside_project_dates"
    PROJECT_MISMATCH = "project_mismatch"
    SITE_NOT_IN_PROJECT = "site_not_in_project"
    OUTSIDE_COUNTRY = "outside_country"
    DUPLICATE_ROW = "duplicate_row"
    DUPLICATE_ID = "duplicate_id"
    ATTENDANCE_TOTAL = "attendance_total"
    SEX_NOT_APPLICABLE = "sex_not_applicable"
    NOT_ON_ROSTER = "not_on_roster"
    NOT_CHANGEABLE = "not_changeable"
    NOT_APPLICABLE = "not_applicable"
    # --- form definitions (docs/results.md#forms) -----------------------------------------
    NOT_UPPER_SNAKE = "not_upper_snake"
    NOT_SNAKE_CASE = "not_snake_case"
    DUPLICATE_NAME = "duplicate_name"
    MIN_ABOVE_MAX = "min_above_max"
    NOT_FOR_TYPE = "not_for_type"
    TOO_FEW_CHOICES = "too_few_choices"
    UNKNOWN_FIELD_REF = "unknown_field_ref"
    LATER_FIELD_REF = "later_field_ref"
    WRONG_FIELD_TYPE = "wrong_field_type"
    INDICATOR_CODE_TAKEN = "indicator_code_taken"
    XLSFORM_UNSUPPORTED = "xlsform_unsupported"
    XLSFORM_UNREADABLE = "xlsform_unreadable"
    # --- observations against their form version (docs/results.md#observations) ----------
    NOT_ASKED = "not_asked"
    UNKNOWN_FORM = "unknown_form"
    UNKNOWN_FORM_VERSION = "unknown_form_version"
    FORM_RETIRED = "form_retired"
    # --- data-quality warnings (flags, never rejections) ----------------------------------
    TOPIC_NOT_IN_PROJECT = "topic_not_in_project"
    MODALITY_NOT_ALLOWED = "modality_not_allowed"
    SOLUTION_OUTSIDE_AREA = "solution_outside_area"
    LIKELY_DUPLICATE = "likely_duplicate"
    GPS_FAR_FROM_SITE = "gps_far_from_site"
    ATTENDANCE_UNUSUAL = "attendance_unusual"
    PHOTO_REUSED = "photo_reused"
    REPORTING_LAG = "reporting_lag"
    NO_PARTICIPANTS = "no_participants"
    # --- who is calling -------------------------------------------------------------------
    NOT_AUTHENTICATED = "not_authenticated"
    BAD_CREDENTIALS = "bad_credentials"
    ACCOUNT_DISABLED = "account_disabled"
    DEVICE_REVOKED = "device_revoked"
    DEVICE_PASSWORD_CHANGED = "device_password_changed"  # noqa: S105 - a code, not a password
    ENROLMENT_CODE_UNKNOWN = "enrolment_code_unknown"
    ENROLMENT_CODE_USED = "enrolment_code_used"
    ENROLMENT_CODE_EXPIRED = "enrolment_code_expired"
    DEVICE_TAKEN = "device_taken"
    NO_TABLET = "no_tablet"
    # --- permissions ----------------------------------------------------------------------
    FORBIDDEN = "forbidden"
    OUT_OF_SCOPE = "out_of_scope"
    NOT_YOUR_RECORD = "not_your_record"
    LOCKED = "locked"
    PERSON_OUT_OF_SCOPE = "person_out_of_scope"
    NOT_UPLOADER = "not_uploader"
    # --- records and their state ----------------------------------------------------------
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    STATE_CONFLICT = "state_conflict"
    EDIT_CONFLICT = "edit_conflict"
    DELETED_ON_SERVER = "deleted_on_server"
    CHANGED_ON_SERVER = "changed_on_server"
    BASE_AHEAD = "base_ahead"
    NOT_STORABLE = "not_storable"
    BUSY = "busy"
    # --- the sync protocol and the request itself -----------------------------------------
    SEQ_GAP = "seq_gap"
    WRONG_OFFSET = "wrong_offset"
    UPLOAD_MISMATCH = "upload_mismatch"
    UNREADABLE_FILE = "unreadable_file"
    BAD_CURSOR = "bad_cursor"
    BAD_BODY = "bad_body"
    BODY_TOO_LARGE = "body_too_large"
    UNSUPPORTED_ENCODING = "unsupported_encoding"
    PROTOCOL_NOT_SUPPORTED = "protocol_not_supported"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    UNAVAILABLE = "unavailable"
    BODY_TIMEOUT = "body_timeout"
    SERVER_BUSY = "server_busy"


EXPLANATIONS: dict[ErrorCode, str] = {
    ErrorCode.REQUIRED: N_("This is required."),
    ErrorCode.PAIR_REQUIRED: N_("Give both values of the pair, or neither."),
    ErrorCode.NOT_OBJECT: N_("This must be a group of values."),
    ErrorCode.NOT_LIST: N_("This must be a list."),
    ErrorCode.NOT_TEXT: N_("This must be text."),
    ErrorCode.NOT_INTEGER: N_("This must be a whole number."),
    ErrorCode.NOT_NUMBER: N_("This must be a number."),
    ErrorCode.NOT_BOOLEAN: N_("This must be yes or no."),
    ErrorCode.TOO_LONG: N_("This is too long."),
    ErrorCode.TOO_SHORT: N_("This is too short."),
    ErrorCode.WEAK_PASSWORD: N_(
        "This password is too easy to guess; use a few unrelated words or a longer phrase."
    ),
    ErrorCode.CONTROL_CHARACTER: N_("This contains an invisible control character; remove it."),
    ErrorCode.TOO_MANY: N_("This has too many entries."),
    ErrorCode.UNKNOWN_FIELD: N_("This field is not known here."),
    ErrorCode.INVALID: N_("This value is not accepted."),
    ErrorCode.UNKNOWN_CODE: N_("This is not one of the allowed choices."),
    ErrorCode.BAD_UUID: N_("This is not a valid identifier."),
    ErrorCode.BAD_DATE: N_("This is not a date; write it as YYYY-MM-DD."),
    ErrorCode.BAD_DATETIME: N_("This is not a date and time."),
    ErrorCode.BAD_PERIOD: N_("This is not a period; use a year, a quarter or a month."),
    ErrorCode.BAD_SHA256: N_("This is not a valid checksum."),
    ErrorCode.DATE_IMPLAUSIBLE: N_("This date is implausible; check the year."),
    ErrorCode.COUNT_RANGE: N_("This count is out of range."),
    ErrorCode.VALUE_RANGE: N_("This value is out of range."),
    ErrorCode.ABOVE_FIELD: N_("This answer is more than another answer of the form allows."),
    ErrorCode.BELOW_FIELD: N_("This answer is less than another answer of the form allows."),
    ErrorCode.LAT_RANGE: N_("Latitude goes from -90 to 90."),
    ErrorCode.LON_RANGE: N_("Longitude goes from -180 to 180."),
    ErrorCode.ACCURACY_RANGE: N_("GPS accuracy is 0 metres or more."),
    ErrorCode.BIRTH_YEAR_RANGE: N_("This birth year is implausible."),
    ErrorCode.STATUS_NOT_ALLOWED: N_("This status is set by the country office's review."),
    ErrorCode.NOT_TARGETABLE: N_("This indicator cannot have a target."),
    ErrorCode.END_BEFORE_START: N_("The end is before the start."),
    ErrorCode.IN_FUTURE: N_("This date is in the future."),
    ErrorCode.OUTSIDE_PROJECT_DATES: N_("This date is outside the project's dates."),
    ErrorCode.PROJECT_MISMATCH: N_("This belongs to another project."),
    ErrorCode.SITE_NOT_IN_PROJECT: N_("This site is not one of the project's sites."),
    ErrorCode.OUTSIDE_COUNTRY: N_("These coordinates are outside the project's country."),
    ErrorCode.DUPLICATE_ROW: N_("The same attendance row appears twice; put its count in one row."),
    ErrorCode.DUPLICATE_ID: N_("The same participant is listed twice."),
    ErrorCode.ATTENDANCE_TOTAL: N_("The attendance adds up to too many people."),
    ErrorCode.SEX_NOT_APPLICABLE: N_("This indicator is not split by sex."),
    ErrorCode.NOT_ON_ROSTER: N_("Some participants are not on the project's roster yet."),
    ErrorCode.NOT_CHANGEABLE: N_("This cannot be changed once recorded; record a new one instead."),
    ErrorCode.NOT_APPLICABLE: N_("This does not apply to the chosen indicator."),
    ErrorCode.NOT_UPPER_SNAKE: N_("Write this code in capitals joined by underscores."),
    ErrorCode.NOT_SNAKE_CASE: N_("Write this name in small letters joined by underscores."),
    ErrorCode.DUPLICATE_NAME: N_("This name is used twice in the form."),
    ErrorCode.MIN_ABOVE_MAX: N_("The minimum is above the maximum."),
    ErrorCode.NOT_FOR_TYPE: N_("This does not apply to this type of field or indicator."),
    ErrorCode.TOO_FEW_CHOICES: N_("This field needs more choices."),
    ErrorCode.UNKNOWN_FIELD_REF: N_("This refers to a field the form does not have."),
    ErrorCode.LATER_FIELD_REF: N_(
        "This refers to a field that comes later in the form: choose an earlier field, or move "
        "that one up."
    ),
    ErrorCode.WRONG_FIELD_TYPE: N_("The field referred to has the wrong type for this."),
    ErrorCode.INDICATOR_CODE_TAKEN: N_("Another indicator already has this code."),
    ErrorCode.XLSFORM_UNSUPPORTED: N_("Pilot Monitor does not support this part of the XLSForm."),
    ErrorCode.XLSFORM_UNREADABLE: N_("This file is not a readable XLSForm workbook."),
    ErrorCode.NOT_ASKED: N_("The form does not ask this, given the other answers; leave it empty."),
    ErrorCode.UNKNOWN_FORM: N_("This form is not known for this project."),
    ErrorCode.UNKNOWN_FORM_VERSION: N_(
        "This version of the form is not published on the server; sync to get the current one."
    ),
    ErrorCode.FORM_RETIRED: N_("This form was retired and takes no new observations."),
    ErrorCode.TOPIC_NOT_IN_PROJECT: N_("This topic is not in the project's solutions."),
    ErrorCode.MODALITY_NOT_ALLOWED: N_("This modality is unusual for the topic's solution."),
    ErrorCode.SOLUTION_OUTSIDE_AREA: N_("This solution is outside the project's thematic area."),
    ErrorCode.LIKELY_DUPLICATE: N_("This may be recorded twice."),
    ErrorCode.GPS_FAR_FROM_SITE: N_("The GPS position is far from the site."),
    ErrorCode.ATTENDANCE_UNUSUAL: N_("The attendance is far above the project's usual."),
    ErrorCode.PHOTO_REUSED: N_("This photo is also attached to another activity."),
    ErrorCode.REPORTING_LAG: N_("This reached the server long after the activity ended."),
    ErrorCode.NO_PARTICIPANTS: N_("Nobody is counted at this activity, though it gathers people."),
    ErrorCode.NOT_AUTHENTICATED: N_("You are not signed in, or your session has ended."),
    ErrorCode.BAD_CREDENTIALS: N_("Wrong username or password."),
    ErrorCode.ACCOUNT_DISABLED: N_("This account is disabled."),
    ErrorCode.DEVICE_REVOKED: N_("This tablet was revoked; its records stay on it."),
    ErrorCode.DEVICE_PASSWORD_CHANGED: N_(
        "Your password was changed, so this tablet was signed out; its records stay on it. "
        "Log in again on the tablet with your new password."
    ),
    ErrorCode.ENROLMENT_CODE_UNKNOWN: N_("Unknown enrolment code; check it or ask for a new one."),
    ErrorCode.ENROLMENT_CODE_USED: N_("This enrolment code was already used; ask for a new one."),
    ErrorCode.ENROLMENT_CODE_EXPIRED: N_("This enrolment code has expired; ask for a new one."),
    ErrorCode.DEVICE_TAKEN: N_("This tablet is enrolled for someone else."),
    # The role's refusal in general, as ``forbidden`` says it (the dashboard's catalogues hold
    # it); the tablet words its enrolment refusals itself (field_app.enrolment.REFUSALS).
    ErrorCode.NO_TABLET: N_("Your role may not do this."),
    ErrorCode.FORBIDDEN: N_("Your role may not do this."),
    ErrorCode.OUT_OF_SCOPE: N_("This is outside your projects or countries."),
    ErrorCode.NOT_YOUR_RECORD: N_("Only the person who recorded this may change it."),
    ErrorCode.LOCKED: N_("This was approved and is locked; ask the country office to reopen it."),
    ErrorCode.PERSON_OUT_OF_SCOPE: N_(
        "This person also works outside your countries; an admin or their other office may."
    ),
    ErrorCode.NOT_UPLOADER: N_(
        "Only the tablet that sent this photo's details may send its bytes."
    ),
    ErrorCode.NOT_FOUND: N_("Not found on the server, or outside your projects."),
    ErrorCode.ALREADY_EXISTS: N_("This already exists."),
    ErrorCode.STATE_CONFLICT: N_("This is not possible in the record's current state."),
    ErrorCode.EDIT_CONFLICT: N_("This was changed on the server too; the server kept its value."),
    ErrorCode.DELETED_ON_SERVER: N_("This record was deleted on the server."),
    ErrorCode.CHANGED_ON_SERVER: N_(
        "This record was changed on the server, so it was not deleted."
    ),
    ErrorCode.BASE_AHEAD: N_("The tablet's copy is ahead of the server's; sync again."),
    ErrorCode.NOT_STORABLE: N_("The server could not store this record."),
    ErrorCode.BUSY: N_("The server is busy with the same task; try again shortly."),
    ErrorCode.SEQ_GAP: N_("Changes arrived out of order; the tablet sends them again."),
    ErrorCode.WRONG_OFFSET: N_("The upload resumes from where the server is."),
    ErrorCode.UPLOAD_MISMATCH: N_("The photo did not arrive intact; it is sent again."),
    ErrorCode.UNREADABLE_FILE: N_(
        "The file is not a readable picture or document of its type; take the photo again."
    ),
    ErrorCode.BAD_CURSOR: N_("The sync position is not valid; sync again from the start."),
    ErrorCode.BAD_BODY: N_("The request could not be read."),
    ErrorCode.BODY_TOO_LARGE: N_("This is too large for the server."),
    ErrorCode.UNSUPPORTED_ENCODING: N_("The request's encoding is not supported."),
    ErrorCode.PROTOCOL_NOT_SUPPORTED: N_("This app is too old for the server; update it."),
    ErrorCode.METHOD_NOT_ALLOWED: N_("This address does not accept this kind of request."),
    ErrorCode.RATE_LIMITED: N_("Too many requests; try again in a moment."),
    ErrorCode.TOO_MANY_ATTEMPTS: N_("Too many failed sign-ins; wait before trying again."),
    ErrorCode.UNAVAILABLE: N_("The server is unavailable; try again later."),
    ErrorCode.BODY_TIMEOUT: N_("The link was too slow to send this; it is sent again."),
    ErrorCode.SERVER_BUSY: N_("The server is busy; the tablet tries again shortly."),
}


@dataclass(frozen=True, slots=True)
class Issue:
    """One thing wrong with the input: which field, its code, and an English message; with
    ``params``, the values its code's message was written with (``shared.validation.issue``),
    by name, as text: what a data-quality flag stores to be worded in any language."""

    field: str
    code: str
    message: str
    params: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, str]:
        """The wire form: ``{"field", "code", "message"}``."""
        return {"field": self.field, "code": str(self.code), "message": self.message}
