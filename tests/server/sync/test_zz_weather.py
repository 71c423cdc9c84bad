from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session
import uuid
from server.activities.models import Activity, ActivityRevision
from tests.server.sync.conftest import Field, mutation, push, pull_all

def test_weather_round_trip(client: TestClient, field: Field, engine: Engine) -> None:
    record = field.activity(weather="light rain")
    assert push(client, field, [mutation(1, record)]).json()["results"][0]["status"] == "applied"
    push(client, field, [mutation(2, {"weather": "sun"}, id=record["id"], base_version=1)])
    with Session(engine) as s:
        a = s.get(Activity, uuid.UUID(record["id"]))
        assert a.weather == "sun"
        revs = s.execute(select(ActivityRevision.data).where(ActivityRevision.activity_id == a.id).order_by(ActivityRevision.version)).scalars().all()
        assert [r["weather"] for r in revs] == ["light rain", "sun"]
    changes, _ = pull_all(client, field)
    [pulled] = [c for c in changes if c["entity"] == "activity"]
    assert pulled["data"]["weather"] == "sun"
    bad = field.activity(weather="x" * 40)
    r = push(client, field, [mutation(3, bad)]).json()["results"][0]
    assert r["status"] == "rejected" and r["errors"][0]["field"] == "weather"
