"""Dependencies that routes declare: the settings, the engine and a database session, and the
query parameters of a list that routes share (page size and offset, code lists)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Engine
from sqlmodel import Session

from server.api import Text
from server.config import Settings
from server.db import write_engine


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_app_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; reads use it as is, writers commit explicitly."""
    engine = get_app_engine(request)
    readonly = request.method in ("GET", "HEAD", "OPTIONS")
    with Session(engine if readonly else write_engine(engine)) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EngineDep = Annotated[Engine, Depends(get_app_engine)]
SessionDep = Annotated[Session, Depends(get_session)]

Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
CodeList = Annotated[Text | None, Query(max_length=500, description="One code or a comma list")]
ProjectList = Annotated[
    Text | None, Query(max_length=2000, description="Project ids or codes, comma list")
]
