"""The one table of the jobs domain: each job's last run, and who runs it now (bookkeeping)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from server.columns import json_doc, optional_time


class JobRun(SQLModel, table=True):
    """A scheduled job's state: who runs it now (if anyone) and how its last run ended."""

    __tablename__ = "job_run"

    name: str = Field(primary_key=True, max_length=64)
    # Set while a run is in progress; left set by a process killed mid-run. Bookkeeping only:
    # the lock is the process's own (server.jobs.registry).
    running_since: datetime | None = optional_time()
    holder: str = Field(default="", max_length=200)
    last_started_at: datetime | None = optional_time()
    last_finished_at: datetime | None = optional_time()
    last_status: str = Field(default="", max_length=16)
    last_result: dict[str, Any] | None = json_doc()
    last_error: str = Field(default="", sa_type=sa.Text)
