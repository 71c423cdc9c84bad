"""Every table of the server, imported in one place so that Alembic and tests see them all."""

from server.accounts.models import (
    AccessToken,
    Device,
    EnrolmentCode,
    LoginFailure,
    PersonalToken,
    User,
    UserProject,
)
from server.activities.models import (
    Activity,
    ActivityParticipant,
    ActivityRevision,
    Attachment,
    AttendanceRow,
    ClosedPeriod,
    Review,
)
from server.indicators.models import CUBES, activity_fact
from server.jobs.models import JobRun
from server.projects.models import Participant, Project, Site, Target
from server.records.models import AuditEntry, Change, RecordRevision
from server.results.models import Form, Observation, ObservationReview
from server.results.rollup import result_cell, result_fact
from server.sync.models import KeptMutation, SyncConflict

__all__ = [
    "CUBES",
    "AccessToken",
    "Activity",
    "ActivityParticipant",
    "ActivityRevision",
    "Attachment",
    "AttendanceRow",
    "AuditEntry",
    "Change",
    "ClosedPeriod",
    "Device",
    "EnrolmentCode",
    "Form",
    "JobRun",
    "KeptMutation",
    "LoginFailure",
    "Observation",
    "ObservationReview",
    "Participant",
    "PersonalToken",
    "Project",
    "RecordRevision",
    "Review",
    "Site",
    "SyncConflict",
    "Target",
    "User",
    "UserProject",
    "activity_fact",
    "result_cell",
    "result_fact",
]
