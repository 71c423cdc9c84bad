"""Accounts tables: users, access tokens, login throttling, devices, enrolment codes."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from server.api import UNKNOWN_KEYS_REFUSED, Text, UtcDateTime
from server.columns import UtcTime, json_list, optional_time, stamp, uuid_pk
from shared.catalogue import Role
from sync.protocol import ReceiptKeyInfo


class User(SQLModel, table=True):
    __tablename__ = "user"

    id: uuid.UUID = uuid_pk()
    username: str = Field(max_length=64, unique=True, index=True)
    full_name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=254)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=32)
    # ISO 3166-1 alpha-3 codes a country officer (or field expert) works in.
    countries: list[str] = json_list()
    is_active: bool = Field(default=True)
    created_at: datetime = stamp()
    password_changed_at: datetime = stamp()


class UserProject(SQLModel, table=True):
    """The projects a field expert works on (their scope)."""

    __tablename__ = "user_project"

    user_id: uuid.UUID = Field(foreign_key="user.id", primary_key=True, ondelete="CASCADE")
    project_id: uuid.UUID = Field(
        foreign_key="project.id", primary_key=True, index=True, ondelete="CASCADE"
    )


class AccessToken(SQLModel, table=True):
    """A bearer token issued at login, stored hashed; logout revokes it."""

    __tablename__ = "access_token"

    id: uuid.UUID = uuid_pk()
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    created_at: datetime = stamp()
    expires_at: datetime = Field(sa_type=UtcTime)
    revoked_at: datetime | None = optional_time()


class PersonalToken(SQLModel, table=True):
    """A person's long-lived, read-only token for the OData feed (HTTP Basic password), stored
    hashed; shown once at creation, revoked by its owner or when the account is disabled."""

    __tablename__ = "personal_token"

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = stamp()
    revoked_at: datetime | None = optional_time()


class LoginFailure(SQLModel, table=True):
    """Recent failed logins per username, to throttle guessing."""

    __tablename__ = "login_failure"

    username: str = Field(max_length=64, primary_key=True)
    failures: int = Field(default=0)
    first_failed_at: datetime = stamp()
    locked_until: datetime | None = optional_time()


ENROLLED_WITH_CODE = "code"
ENROLLED_WITH_PASSWORD = "password"  # noqa: S105 - how a tablet enrolled, not a password
REVOKED_PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason, not a password


class Device(SQLModel, table=True):
    """An enrolled tablet. Its id is made on the tablet; its token is stored hashed."""

    __tablename__ = "device"

    id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    label: str = Field(default="", max_length=120)
    app_version: str = Field(default="", max_length=40)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    enrolled_at: datetime = stamp()
    last_seen_at: datetime | None = optional_time()
    last_seq: int = Field(default=0, sa_type=sa.BigInteger)
    revoked_at: datetime | None = optional_time()
    # How the tablet last enrolled (docs/protocol.md#enrolment): "code", a one-time code the
    # country office issued, or "password", its person's access token. A new password revokes
    # the "password" ones: a stolen password must not leave a tablet behind that outlives it.
    enrolled_with: str = Field(
        default=ENROLLED_WITH_PASSWORD,
        max_length=8,
        sa_column_kwargs={"server_default": ENROLLED_WITH_PASSWORD},
    )
    # Why it was revoked when the tablet can do something about it: "password_changed" (its
    # person may enrol it again with the new password); None for every other revocation.
    revoked_reason: str | None = Field(default=None, max_length=16)
    # Random, not secret: the tablet's offline-bundle key is derived from it and the server's
    # secret key (server.accounts.devices.bundle_key); a new one at every enrolment.
    bundle_key_nonce: str | None = Field(default=None, max_length=32)


class DeviceStatus(SQLModel, table=True):
    """The latest status a tablet posted (docs/protocol.md#tablet-status): what it still holds.

    One row per tablet, replaced by each post. ``received_at`` is the server's clock; the
    tablet's own times are data only. ``pending_since`` is the server time of the first post,
    in an unbroken run of posts with something pending, that had anything pending (None when
    nothing is); the ``pending-tablets`` job sets ``flagged_at`` once that is older than
    ``PILOTMON_PENDING_TABLET_DAYS`` and clears it when the tablet reports nothing pending.
    """

    __tablename__ = "device_status"

    device_id: uuid.UUID = Field(foreign_key="device.id", primary_key=True, ondelete="CASCADE")
    received_at: datetime = stamp()
    pending_mutations: int = Field(default=0)
    pending_uploads: int = Field(default=0)
    pending_upload_bytes: int = Field(default=0, sa_type=sa.BigInteger)
    oldest_pending_captured_at: datetime | None = optional_time()
    records: int = Field(default=0)
    photos: int = Field(default=0)
    free_storage_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    app_version: str = Field(default="", max_length=40)
    language: str | None = Field(default=None, max_length=16)
    last_error: str | None = Field(default=None, max_length=500)
    pending_since: datetime | None = optional_time()
    flagged_at: datetime | None = optional_time()
    # The tablet's own clock when it posted (None: it did not say): shown, never decided on.
    tablet_time: datetime | None = optional_time()


class EnrolmentCode(SQLModel, table=True):
    """A one-time code that lets a tablet enrol for a user; expires, and works once."""

    __tablename__ = "enrolment_code"

    id: uuid.UUID = uuid_pk()
    code_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = stamp()
    expires_at: datetime = Field(sa_type=UtcTime)
    used_at: datetime | None = optional_time()
    used_by_device_id: uuid.UUID | None = Field(default=None)


# --- API shapes --------------------------------------------------------------------------------


class ProjectRef(SQLModel):
    id: uuid.UUID
    code: str
    name: str


class UserCreate(SQLModel):
    model_config = UNKNOWN_KEYS_REFUSED
    username: Text = Field(
        min_length=2, max_length=64, description="Lowercase letters, digits, '.', '_' or '-'"
    )
    password: Text = Field(min_length=1, max_length=256)
    role: Role
    countries: list[Text] = Field(
        default_factory=list, max_length=300, description="ISO 3166-1 alpha-3 codes"
    )
    projects: list[Text] = Field(
        default_factory=list, max_length=1000, description="Codes of a field expert's projects"
    )
    full_name: Text = Field(default="", max_length=200)
    email: Text | None = Field(default=None, max_length=254)


class UserUpdate(SQLModel):
    """Fields to change (a user's role is set at creation); a list replaces the one it names."""

    model_config = UNKNOWN_KEYS_REFUSED

    full_name: Text | None = Field(default=None, max_length=200)
    email: Text | None = Field(default=None, max_length=254)
    is_active: bool | None = None
    password: Text | None = Field(default=None, min_length=1, max_length=256)
    countries: list[Text] | None = Field(
        default=None,
        max_length=300,
        description="ISO 3166-1 alpha-3 codes; a field expert's also follow from their projects",
    )
    projects: list[Text] | None = Field(
        default=None, max_length=1000, description="Codes of a field expert's projects"
    )


class UserPublic(SQLModel):
    id: uuid.UUID
    username: str
    full_name: str
    email: str | None
    role: str
    countries: list[str]
    projects: list[ProjectRef]
    is_active: bool
    created_at: UtcDateTime


class TokenPublic(SQLModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105
    expires_in: int = Field(description="Lifetime in seconds")


class PersonalTokenCreate(SQLModel):
    model_config = UNKNOWN_KEYS_REFUSED
    name: Text = Field(
        min_length=1, max_length=100, description="What the token is for, e.g. 'Power BI at HQ'"
    )


class PersonalTokenPublic(SQLModel):
    id: uuid.UUID
    name: str
    created_at: UtcDateTime
    revoked_at: UtcDateTime | None


class PersonalTokenCreated(SQLModel):
    id: uuid.UUID
    name: str
    token: str = Field(
        description="Shown once: the password for HTTP Basic on the OData feed, with your username"
    )


class EnrolmentCodeCreate(SQLModel):
    model_config = UNKNOWN_KEYS_REFUSED
    username: Text = Field(min_length=1, max_length=64)


class EnrolmentCodePublic(SQLModel):
    id: uuid.UUID
    username: str
    code: str = Field(description="Shown once: type it on the tablet or scan the QR code")
    expires_at: UtcDateTime
    qr_payload: str = Field(description="What the QR code holds: pilotmon:enrol?code=…&server=…")
    qr_svg: str = Field(description="The QR code as an SVG document")


class EnrolRequest(SQLModel):
    enrolment_code: Text | None = Field(
        default=None,
        max_length=40,
        description="The one-time code; omit it when enrolling with a user's bearer token",
    )
    device_id: uuid.UUID = Field(description="Made on the tablet, kept forever")
    label: Text = Field(default="", max_length=120)
    app_version: Text = Field(default="", max_length=40)


class EnrolledUser(SQLModel):
    id: uuid.UUID = Field(
        description="The person's id: what pulled records name their author by (created_by_id)"
    )
    username: str
    role: str
    countries: list[str]
    projects: list[ProjectRef]


class BundleKey(SQLModel):
    bundle_key: str = Field(
        description="Keep it secret: 32 bytes, hex; the key of the HMAC-SHA256 that signs "
        "this tablet's offline bundles"
    )
    bundle_key_id: str = Field(description="Names the key; written into each bundle's signature")


class EnrolResponse(BundleKey):
    device_token: str = Field(description="Keep it secret; sent as Bearer on sync calls")
    device_id: uuid.UUID
    user: EnrolledUser
    server_time: UtcDateTime
    receipt_keys: list[ReceiptKeyInfo] = Field(
        default_factory=list,
        description="The public keys that sign custody receipts (docs/protocol.md"
        "#custody-receipts): the tablet pins them to verify its receipts offline",
    )


class DeviceStatusPublic(SQLModel):
    received_at: UtcDateTime
    pending_mutations: int
    pending_uploads: int
    pending_upload_bytes: int
    oldest_pending_captured_at: UtcDateTime | None
    records: int
    photos: int
    free_storage_bytes: int | None
    app_version: str
    language: str | None
    last_error: str | None
    pending_since: UtcDateTime | None
    flagged_at: UtcDateTime | None
    tablet_time: UtcDateTime | None = None
    # tablet_time minus received_at: how far the tablet's date was off the server's
    clock_offset_seconds: int | None = None


class DevicePublic(SQLModel):
    id: uuid.UUID
    user_id: uuid.UUID
    username: str
    label: str
    app_version: str
    enrolled_at: UtcDateTime
    last_seen_at: UtcDateTime | None
    last_seq: int
    revoked: bool
    revoked_at: UtcDateTime | None
    # The latest status the tablet posted (None: it never posted one) and why it needs a call.
    status: DeviceStatusPublic | None = None
    attention: list[str] = []
