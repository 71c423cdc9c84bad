"""Ctrl-C during ``pilotmon restore``: all of the restore or none of it, and a line that says
which (server/ops/restore.py).

Each test takes a backup of a world with photos, then changes the database (a review deleted)
and the photos (one deleted, one added), and restores over them with ``--force`` while Ctrl-C
(a real SIGINT, or a KeyboardInterrupt raised by a step) arrives at one step. Then either
nothing was restored (the changed rows and photos, nothing kept aside) or all of it (the
backup's rows and photos, the changed photos kept aside).
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine

from server.config import Settings
from server.db import dispose_engines, make_engine
from server.migrate import alembic_config, current_revision, upgrade
from server.ops import pgtools, restore
from server.ops.archive import BackupError, NoProgress
from server.ops.backup import create_backup
from server.ops.restore import RestoreInterrupted, restore_backup
from tests.conftest import Snapshot, restore_snapshot, take_snapshot
from tests.server.ops.test_cli import run_in_process
from tests.server.ops.world import every_row, files_under, load_world

SECRET = "test-secret-key-that-is-long-enough-0123456789"


@dataclass
class Scene:
    settings: Settings
    engine: Engine
    archive: Path
    method: str  # the archive's: sqlite, pg_dump or logical
    backup_rows: dict[str, list[tuple[Any, ...]]]
    backup_photos: dict[str, str]
    changed_rows: dict[str, list[tuple[Any, ...]]]
    changed_photos: dict[str, str]

    def restore(self, progress: Any = None) -> None:
        restore_backup(
            settings=self.settings,
            engine=self.engine,
            archive=self.archive,
            force=True,
            progress=progress,
        )

    def assert_nothing_restored(self) -> None:
        assert every_row(self.engine) == self.changed_rows
        assert files_under(self.settings.attachments_dir) == self.changed_photos
        assert self._kept_aside() == [] and self._staging() == []

    def assert_all_restored(self) -> None:
        assert every_row(self.engine) == self.backup_rows
        assert files_under(self.settings.attachments_dir) == self.backup_photos
        kept = self._kept_aside()
        assert len(kept) == 1 and files_under(kept[0]) == self.changed_photos
        assert self._staging() == []

    def _kept_aside(self) -> list[Path]:
        return [p for p in self.settings.data_dir.iterdir() if ".before-restore-" in p.name]

    def _staging(self) -> list[Path]:
        return [p for p in self.settings.data_dir.iterdir() if p.name.startswith(".restore-")]


def _scene(db_url: str, tmp_path: Path, method: str) -> Scene:
    data = tmp_path / "data"
    if db_url.startswith("sqlite"):
        # the database in the data directory, as `pilotmon` keeps it by default
        data.mkdir()
        (tmp_path / "pilotmon.sqlite3").rename(data / "pilotmon.sqlite3")
        db_url = f"sqlite:///{data / 'pilotmon.sqlite3'}"
    settings = Settings(environment="test", data_dir=data, database_url=db_url, secret_key=SECRET)
    settings.ensure_data_dir()
    engine = make_engine(db_url)
    load_world(engine, settings.attachments_dir)
    archive = tmp_path / "backup.tar.gz"
    made = create_backup(settings=settings, engine=engine, path=archive, method=method)
    backup_rows, backup_photos = every_row(engine), files_under(settings.attachments_dir)
    # What a restore replaces: a review gone, one photo gone, one photo more.
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM review")
    next(p for p in sorted(settings.attachments_dir.rglob("*")) if p.is_file()).unlink()
    (settings.attachments_dir / "later.jpg").write_bytes(b"\xff\xd8 a later photo")
    scene = Scene(
        settings=settings,
        engine=engine,
        archive=archive,
        method=made.manifest.method,
        backup_rows=backup_rows,
        backup_photos=backup_photos,
        changed_rows=every_row(engine),
        changed_photos=files_under(settings.attachments_dir),
    )
    assert scene.changed_rows != backup_rows and scene.changed_photos != backup_photos
    return scene


@dataclass
class _Made:
    """A scene as ``_scene`` leaves it, kept for the module's other tests: its data directory
    (the SQLite database in it), its archive, its rows and photos, and on PostgreSQL the rows
    of the changed database."""

    data: Path
    archive: Path
    method: str
    backup_rows: dict[str, list[tuple[Any, ...]]]
    backup_photos: dict[str, str]
    changed_rows: dict[str, list[tuple[Any, ...]]]
    changed_photos: dict[str, str]
    snapshot: Snapshot | None


@pytest.fixture(scope="module")
def made_scenes() -> dict[tuple[str, str], _Made]:
    return {}


@pytest.fixture(params=["native", "logical"])
def scene(
    request: pytest.FixtureRequest,
    db_url: str,
    tmp_path: Path,
    made_scenes: dict[tuple[str, str], _Made],
) -> Iterator[Scene]:
    """The scene of ``_scene``, made once per backend and backup method (a world loaded and
    backed up, 0.5 to 1 s), then its database and data directory put back for each test; the
    archive, which a restore only reads, is shared."""
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    if request.param == "native" and backend == "postgresql" and not pgtools.have("pg_dump"):
        pytest.skip("pg_dump is not installed here")
    key = (backend, request.param)
    if key not in made_scenes:
        made_scenes[key] = _keep(request, db_url, request.param)
    kept = made_scenes[key]
    data = tmp_path / "data"
    shutil.copytree(kept.data, data)
    if kept.snapshot is None:
        db_url = f"sqlite:///{data / 'pilotmon.sqlite3'}"
    else:
        restore_snapshot(request.getfixturevalue("pg_engine"), kept.snapshot)
    settings = Settings(environment="test", data_dir=data, database_url=db_url, secret_key=SECRET)
    made = Scene(
        settings=settings,
        engine=make_engine(db_url),
        archive=kept.archive,
        method=kept.method,
        backup_rows=kept.backup_rows,
        backup_photos=kept.backup_photos,
        changed_rows=kept.changed_rows,
        changed_photos=kept.changed_photos,
    )
    yield made
    made.engine.dispose()


def _keep(request: pytest.FixtureRequest, db_url: str, method: str) -> _Made:
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    folder = factory.mktemp("scene")
    if db_url.startswith("sqlite"):  # the test's fresh copy of the empty database
        shutil.copyfile(db_url.removeprefix("sqlite:///"), folder / "pilotmon.sqlite3")
    made = _scene(db_url, folder, method)
    snapshot = None
    if made.engine.dialect.name == "sqlite":
        with made.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        snapshot = take_snapshot(made.engine)
    made.engine.dispose()
    return _Made(
        data=made.settings.data_dir,
        archive=made.archive,
        method=made.method,
        backup_rows=made.backup_rows,
        backup_photos=made.backup_photos,
        changed_rows=made.changed_rows,
        changed_photos=made.changed_photos,
        snapshot=snapshot,
    )


def _ctrl_c() -> None:
    """Ctrl-C as the terminal sends it: SIGINT to this process, handled before this returns."""
    signal.raise_signal(signal.SIGINT)


def _after(original: Callable[..., Any], then: Callable[[], None]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        then()
        return result

    return wrapped


def _before(original: Callable[..., Any], first: Callable[[], None]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        first()
        return original(*args, **kwargs)

    return wrapped


def _interrupt() -> None:
    raise KeyboardInterrupt


class _CtrlCWhileCopying(NoProgress):
    """Ctrl-C at the first block of rows or pages the database step reports."""

    def __init__(self) -> None:
        self.copying = False
        self.sent = False

    def start(self, label: str, total: int) -> None:
        self.copying = label.startswith("restoring")

    def advance(self, nbytes: int) -> None:
        if self.copying and not self.sent:
            self.sent = True
            _ctrl_c()


def test_ctrl_c_while_checking_the_archive_restores_nothing(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(restore, "_check_names", lambda _: _interrupt())
    with pytest.raises(RestoreInterrupted, match="nothing was restored") as caught:
        scene.restore()
    assert caught.value.exit_code == 130
    scene.assert_nothing_restored()


def test_ctrl_c_once_the_photos_are_in_place_puts_them_back(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        restore, "_put_attachments_in_place", _after(restore._put_attachments_in_place, _ctrl_c)
    )
    with pytest.raises(RestoreInterrupted, match="nothing was restored"):
        scene.restore()
    scene.assert_nothing_restored()


def test_ctrl_c_while_the_database_is_copied_rolls_it_back(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(restore, "SQLITE_STEP_PAGES", 1)
    monkeypatch.setattr(restore, "INSERT_BATCH", 1)
    if scene.method == "pg_dump":
        # psql loads the dump in one go: Ctrl-C while pg_restore made its script (at a
        # terminal Ctrl-C reaches psql too, which cancels, its one transaction rolled back)
        monkeypatch.setattr(pgtools, "run", _ctrl_c_after_pg_restore(pgtools.run))
        progress: Any = None
    else:
        progress = _CtrlCWhileCopying()
    with pytest.raises(RestoreInterrupted, match="nothing was restored"):
        scene.restore(progress)
    if progress is not None:
        assert progress.sent, "the step reported no progress"
    scene.assert_nothing_restored()


def _ctrl_c_after_pg_restore(real_run: Callable[..., None]) -> Callable[..., None]:
    def run(tool: str, args: list[str], **kwargs: Any) -> None:
        real_run(tool, args, **kwargs)
        if tool == "pg_restore":
            _ctrl_c()

    return run


def test_a_step_that_raises_keyboard_interrupt_restores_nothing(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    for step in ("_restore_sqlite_file", "_restore_pg_dump", "_insert_table"):
        monkeypatch.setattr(restore, step, lambda *_, **__: _interrupt())
    with pytest.raises(RestoreInterrupted, match="nothing was restored"):
        scene.restore()
    scene.assert_nothing_restored()


def test_ctrl_c_as_the_database_commits_finishes_the_restore_and_says_so(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reviewer's case: Ctrl-C during SQLite's one-step backup was raised once it had
    # committed, and the photos were deleted with the staging folder.
    monkeypatch.setattr(restore, "_restore_database", _after(restore._restore_database, _ctrl_c))
    with pytest.raises(RestoreInterrupted) as caught:
        scene.restore()
    assert "the backup is restored whole, photos included" in caught.value.message
    assert "kept in" in caught.value.message
    scene.assert_all_restored()


def test_without_ctrl_c_the_restore_is_whole(scene: Scene) -> None:
    scene.restore()
    scene.assert_all_restored()


def test_a_failed_database_step_puts_the_photos_back(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_: Any, **__: Any) -> None:
        raise BackupError("the database refused it")

    for step in ("_restore_sqlite_file", "_restore_pg_dump", "_insert_table"):
        monkeypatch.setattr(restore, step, fail)
    with pytest.raises(BackupError, match="refused it"):
        scene.restore()
    scene.assert_nothing_restored()


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_ctrl_c_during_the_upgrade_of_an_older_archive_says_where_it_stopped(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = "0011_result_cells"
    data = tmp_path / "data"
    if db_url.startswith("sqlite"):
        data.mkdir()
        (tmp_path / "pilotmon.sqlite3").rename(data / "pilotmon.sqlite3")
        db_url = f"sqlite:///{data / 'pilotmon.sqlite3'}"
    elif not pgtools.have("pg_dump"):
        pytest.skip("pg_dump is not installed here")
    settings = Settings(environment="test", data_dir=data, database_url=db_url, secret_key=SECRET)
    settings.ensure_data_dir()
    engine = make_engine(db_url)
    load_world(engine, settings.attachments_dir)
    config = alembic_config()
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, old)
        archive = tmp_path / "old.tar.gz"
        create_backup(settings=settings, engine=engine, path=archive, method="native")
        upgrade(engine)
        photos = files_under(settings.attachments_dir)
        monkeypatch.setattr(restore, "upgrade_and_rebuild", lambda *_, **__: _interrupt())
        with pytest.raises(RestoreInterrupted) as caught:
            restore_backup(settings=settings, engine=engine, archive=archive, force=True)
        assert "during the schema upgrade, which was rolled back" in caught.value.message
        assert f"at its older revision {old}: run `pilotmon init-db`" in caught.value.message
        assert current_revision(engine) == old
        assert files_under(settings.attachments_dir) == photos
    finally:
        upgrade(engine)
        engine.dispose()


def test_the_command_says_what_an_interrupted_restore_left(
    tmp_path: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "office"
    source.mkdir()
    (source / "pilotmon.sqlite3").write_bytes(sqlite_template.read_bytes())
    engine = make_engine(f"sqlite:///{source / 'pilotmon.sqlite3'}")
    load_world(engine, source / "attachments")
    engine.dispose()
    archive = tmp_path / "big.tgz"
    code, _, err = run_in_process(
        monkeypatch, capsys, "backup", str(archive), PILOTMON_DATA_DIR=str(source)
    )
    assert code == 0, err
    target = tmp_path / "new-server"
    env = {"PILOTMON_DATA_DIR": str(target)}

    # Ctrl-C before the database committed: nothing restored, and a second restore runs.
    real = restore._restore_sqlite_file
    monkeypatch.setattr(restore, "_restore_sqlite_file", _before(real, _ctrl_c))
    code, out, err = run_in_process(monkeypatch, capsys, "restore", str(archive), **env)
    dispose_engines()
    assert code == 130, err
    assert err.splitlines()[-1] == (
        "pilotmon: interrupted: nothing was restored; the database and the photos are as they were"
    )
    assert out == "" and files_under(target / "attachments") == {}

    # Ctrl-C as it committed: all restored, and it says so.
    monkeypatch.setattr(restore, "_restore_sqlite_file", _after(real, _ctrl_c))
    code, out, err = run_in_process(monkeypatch, capsys, "restore", str(archive), **env)
    dispose_engines()
    assert code == 130, err
    assert err.splitlines()[-1] == (
        "pilotmon: interrupted as the restore committed: the backup is restored whole, photos "
        "included"
    )
    assert files_under(target / "attachments") == files_under(source / "attachments")
    engine = make_engine(f"sqlite:///{target / 'pilotmon.sqlite3'}")
    try:
        assert (
            every_row(engine)["activity"]
            == every_row(make_engine(f"sqlite:///{source / 'pilotmon.sqlite3'}"))["activity"]
        )
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_sqlite_target_another_process_writes_to_is_refused_after_the_lock_timeout(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite's backup API waited for the target's write lock forever (each busy wait of 30 s
    # retried), and Ctrl-C could not stop it.
    scene = _scene(db_url, tmp_path, "native")
    monkeypatch.setattr(restore, "LOCK_TIMEOUT_S", 0.2)
    writer = sqlite3.connect(scene.settings.data_dir / "pilotmon.sqlite3", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a server in the middle of a push
        with pytest.raises(BackupError, match=r"the database is in use .* nothing was changed"):
            scene.restore()
    finally:
        writer.close()
    scene.assert_nothing_restored()
    scene.engine.dispose()
