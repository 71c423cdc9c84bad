"""Every table of the server, imported in one place so that Alembic and tests see them all."""

from server.accounts.models import (
    AccessToken,
    Device,
    EnrolmentCode,
    LoginFailure,
    User,
    UserProject,
)
from server.activities.models import (
    Activity,
    ActivityParticipant,
    ActivityRevision,
    AttendanceRow,
    Attachment,
    ClosedPeriod,
    Review,
)
from server.audit.models import AuditEntry
from server.projects.models import Participant, Project, Site, Target
from server.sync.models import Change, KeptMutation, SyncConflict

__all__ = [
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
    "KeptMutation",
    "LoginFailure",
    "Participant",
    "Project",
    "Review",
    "Site",
    "SyncConflict",
    "Target",
    "User",
    "UserProject",
]
