"""The activity form. The logic is :class:`~field_app.controllers.form.ActivityForm`; this screen
binds it to widgets: every box and picker with a ``field_name`` writes into the form as it
changes, and the form's errors and warnings come back next to the fields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from kivy.clock import mainthread
from kivy.metrics import dp
from kivy.properties import (
    BooleanProperty,
    DictProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.popup import Popup
from kivy.uix.recycleview.views import RecycleDataViewBehavior
from kivy.uix.scrollview import ScrollView

from field_app.controllers.attendance import (
    AGE_BANDS,
    CATEGORIES,
    SEXES,
    Cell,
    chip_counts,
    format_share,
    grid_caption,
)
from field_app.controllers.attention import server_message
from field_app.controllers.chooser import listing, pictures_folder
from field_app.controllers.form import (
    CHOICE_FIELDS,
    FIELD_EXPERT,
    TEXT_FIELDS,
    ActivityForm,
    FormInvalid,
    form_field,
    recorded_by_another,
    recorded_by_text,
)
from field_app.device import DeviceUnavailable, Fix
from field_app.i18n import _, language, number
from field_app.photos import PhotoError, downscale
from field_app.screens.base import BaseScreen, Says, in_background
from field_app.screens.widgets import (
    ChoiceField,
    ConfirmDelete,
    ConfirmDiscard,
    DateField,
    FieldInput,
)


class AttendanceCell(FieldInput):
    sex = StringProperty("")
    age_band = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(focus=self._in_sight)

    def _in_sight(self, _cell: Any, focused: bool) -> None:
        """A cell touched where it lies under the pinned headings comes out beside them: what
        is typed shows, under its column's heading."""
        scroll = self.parent.parent if self.parent is not None else None
        if focused and isinstance(scroll, GridScroll):
            scroll.scroll_to(self, padding=dp(4), animate=False)


class GridScroll(ScrollView):
    """The attendance grid's sideways scroll, under the row headings pinned over its left edge
    (``pinned``, form.kv)."""

    pinned = ObjectProperty(None, allownone=True)

    def scroll_to(self, widget: Any, padding: Any = 10, animate: Any = True) -> None:
        """Bring ``widget`` (a cell) into sight beside the pinned headings, not under them."""
        pinned, view = self.pinned, self._viewport
        room = view.width - self.width if view is not None else 0
        if pinned is None or pinned.disabled or room <= 0:
            super().scroll_to(widget, padding, animate)
            return
        pad = padding if isinstance(padding, int | float) else padding[0]
        left, right = widget.x - view.x, widget.right - view.x
        offset = float(getattr(self, "scroll_x", 0.0)) * room
        if left - pad - pinned.width < offset:
            offset = left - pad - pinned.width
        elif right + pad > offset + self.width:
            offset = right + pad - self.width
        self.scroll_x = min(max(offset / room, 0.0), 1.0)


class PhotoThumb(BoxLayout):
    photo_id = StringProperty("")
    source = StringProperty("")
    caption = StringProperty("")
    read_only = BooleanProperty(False)  # on a locked or a colleague's record


class ChooserRow(RecycleDataViewBehavior, ButtonBehavior, BoxLayout):
    """One folder or photo in the chooser's list: large, dark on light, its size and date."""

    name = StringProperty("")
    detail = StringProperty("")
    path = StringProperty("")
    folder = BooleanProperty(False)
    selected = BooleanProperty(False)
    chooser = ObjectProperty(None, allownone=True)

    def on_release(self) -> None:
        if self.chooser is not None:
            self.chooser.tapped(self.path, self.folder)


class PhotoChooser(Says, Popup):
    """Choosing a photo on a computer (a tablet uses its platform's picker): "Take a photo"
    first, then the pictures folder's folders and photos in large, light rows."""

    folder = StringProperty("")
    selected = StringProperty("")
    has_camera = BooleanProperty(False)

    def __init__(
        self,
        *,
        start: Path,
        on_chosen: Any,
        on_camera: Any,
        has_camera: bool,
        title: Callable[[], str],
        **kwargs: Any,
    ) -> None:
        self._on_chosen = on_chosen
        self._on_camera = on_camera
        self.home = start
        super().__init__(has_camera=has_camera, **kwargs)
        self.say("title", title)  # again after a language switch
        self.open_folder(start)

    def open_folder(self, folder: Path) -> None:
        self.folder, self.selected = str(folder), ""
        self._list()

    def up(self) -> None:
        parent = Path(self.folder).parent
        if parent != Path(self.folder):
            self.open_folder(parent)

    def tapped(self, path: str, folder: bool) -> None:
        if folder:
            self.open_folder(Path(path))
        elif self.selected == path:
            self.use()  # a second touch on the chosen photo takes it
        else:
            self.selected = path
            self._list()

    def _list(self) -> None:
        self.ids.entries.data = [
            {
                "name": e.name,
                "detail": e.detail,
                "path": str(e.path),
                "folder": e.folder,
                "selected": str(e.path) == self.selected,
                "chooser": self,
            }
            for e in listing(Path(self.folder))
        ]

    def use(self) -> None:
        if self.selected:
            self.dismiss()
            self._on_chosen(Path(self.selected))

    def camera(self) -> None:
        self.dismiss()
        self._on_camera()


class FormScreen(BaseScreen):
    heading = StringProperty("")
    project_title = StringProperty("")
    errors = DictProperty({})
    warnings = DictProperty({})
    banner = StringProperty("")
    banner_tone = StringProperty("error")  # error | returned | info | safe
    locked = BooleanProperty(False)  # approved: locked until the country office reopens it
    not_yours = BooleanProperty(False)  # recorded by a colleague: only they may change it
    # Locked or another's: every field shows but none takes input, nothing can be saved.
    read_only = BooleanProperty(False)
    new_site = BooleanProperty(False)
    roster = BooleanProperty(False)
    roster_count = NumericProperty(0)
    # attendance grid view
    category = StringProperty(CATEGORIES[0])
    disability = BooleanProperty(False)
    totals = DictProperty({})
    category_totals = DictProperty({})  # the count on every chip (chip_counts)
    grid_caption = StringProperty("")
    summary = StringProperty("")
    nobody_counted = BooleanProperty(True)  # the attendance grid adds up to nobody
    photos = ListProperty([])
    gps_status = StringProperty("")
    has_gps = BooleanProperty(False)
    has_camera = BooleanProperty(False)
    busy = StringProperty("")
    preparing = NumericProperty(0)  # photos being downscaled on worker threads
    today = ObjectProperty(None, allownone=True)  # the latest day a date picker offers
    saved_activity = BooleanProperty(False)  # an activity already saved: measurements may follow

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.form: ActivityForm | None = None
        self._loading = False
        self._dirty = False
        self._added_photos: list[str] = []
        self._server_errors: dict[str, str] = {}
        self._site_banner = ""  # the banner saying the record's site was rejected, while shown
        self._record_state = ""
        self._save_when_ready = False

    def on_kv_post(self, base_widget: Any) -> None:
        self._inputs: dict[str, Any] = {}
        self._cells: dict[tuple[str, str], AttendanceCell] = {}
        for widget in self.walk(restrict=True):
            if isinstance(widget, AttendanceCell):
                self._cells[(widget.sex, widget.age_band)] = widget
                widget.bind(text=self._cell_changed)
            elif isinstance(widget, FieldInput) and widget.field_name:
                self._inputs[widget.field_name] = widget
                widget.bind(text=self._text_changed)
            elif isinstance(widget, ChoiceField) and widget.field_name:
                self._inputs[widget.field_name] = widget
                widget.bind(code=self._choice_changed)
            elif isinstance(widget, DateField) and widget.field_name:
                self._inputs[widget.field_name] = widget
                widget.bind(value=self._text_changed)

    # -- opening -------------------------------------------------------------------------------

    def enter(
        self,
        project_id: str | None = None,
        activity_id: str | None = None,
        returning: bool = False,
        **_params: Any,
    ) -> None:
        if returning and self.form is not None:
            self._after_roster()
            return
        session = self.session
        record = session.backend.activity(activity_id) if activity_id else None
        if activity_id and record is None:
            raise LookupError(f"no activity {activity_id} on this tablet")
        project_id = str(record.data["project_id"]) if record else project_id
        project = session.project(project_id)
        if project is None:
            raise LookupError(f"no project {project_id} on this tablet")
        self.form = ActivityForm(
            project=project,
            sites=session.backend.sites(project_id),
            today=session.today(),
            record=record.data if record else None,
            photos=session.photos_of(activity_id) if activity_id else (),
        )
        self.project_title = f"{project.get('code', '')} · {project.get('name', '')}"
        self.today = session.today()
        self._record, self._language = record, language()
        self.heading = _("New activity") if record is None else _("Edit activity")
        self.saved_activity = record is not None
        self._activity_id = record.id if record is not None else ""
        self._site_id = str(record.data.get("site_id") or "") if record is not None else ""
        self.roster = bool(project.get("roster"))
        self.locked = bool(record and record.locked)
        self.not_yours = record is not None and self._recorded_by_another(record)
        self.read_only = self.locked or self.not_yours
        self._record_state = record.state if record else ""
        self._server_errors = {}
        self.banner, self.banner_tone = "", "error"
        self._site_banner = ""
        if record is not None:
            self._explain(record)
        device = session.device
        self.has_gps, self.has_camera = device.has_gps(), device.has_camera()
        self.gps_status = "" if self.has_gps else _("No GPS on this device: type the coordinates")
        self._added_photos = []
        self._save_when_ready = False
        self.busy = ""
        self.category, self.disability = CATEGORIES[0], False
        self._load_widgets()
        self._dirty = False
        self.ids.scroll.scroll_y = 1

    def _recorded_by_another(self, record: Any) -> bool:
        """Whether the tablet's person may not change ``record`` (docs/roles.md): their role
        from the enrolment, their id from the backend (``person_id``)."""
        backend = self.session.backend
        enrolment = backend.enrolment()
        role = enrolment.role if enrolment is not None else ""
        user_id = backend.person_id() if role == FIELD_EXPERT else None
        return recorded_by_another(record.data, record.errors, role=role, user_id=user_id)

    def _explain(self, record: Any) -> None:
        safe = _(
            "Safe on the server: the server signed a receipt for this version and every photo."
        )
        if self.not_yours:
            # The real reason first: approved or not, it is a colleague's to change.
            self.banner, self.banner_tone = recorded_by_text(), "info"
            if record.state == "rejected":
                self.banner += " " + _(
                    "The server refused your change: discard it in Needs attention."
                )
        elif record.locked:
            self.banner, self.banner_tone = (
                _("Approved: locked until the country office reopens it."),
                "info",
            )
            if record.safe:
                self.banner += " " + safe
        elif self.form is not None and self.form.text("site").lower() in self.form.rejected_sites:
            # At a site the office rejected: the server refuses any change of it until another
            # site is chosen (said next to the site too), whatever else the banner would say.
            self.banner, self.banner_tone = self.form.check().errors["site"], "error"
            self._site_banner = self.banner
        elif record.safe and record.state == "synced":
            self.banner, self.banner_tone = safe, "safe"
        elif record.state == "returned":
            comment = record.comment or _("(no comment)")
            self.banner = _("Returned by the country office: {comment}").format(comment=comment)
            self.banner_tone = "returned"
        elif record.state == "rejected":
            self._server_errors = {
                form_field(e.get("field", "")): server_message(e) for e in record.errors
            }
            self.banner = _("The server refused this record. Correct it and save again.")
        elif record.state == "conflict":
            self.banner = _(
                "This record was changed on the server too. Open Needs attention to "
                "choose which version to keep."
            )
            self.banner_tone = "returned"

    def _load_widgets(self) -> None:
        assert self.form is not None
        self._loading = True
        try:
            for name, widget in self._inputs.items():
                if isinstance(widget, ChoiceField):
                    widget.pairs = self.form.choices(name)
                    widget.code = self.form.text(name)
                    widget._show()
                elif isinstance(widget, DateField):
                    widget.value = self.form.text(name)
                else:
                    widget.text = self.form.text(name)
            self._load_cells()
            for widget in (*self._inputs.values(), *self._cells.values()):
                widget.disabled = self.read_only
        finally:
            self._loading = False
        self._show_photos()
        self._show_check()

    def _load_cells(self) -> None:
        assert self.form is not None
        was_loading, self._loading = self._loading, True
        try:
            for (sex, age_band), widget in self._cells.items():
                count = self.form.attendance.get(
                    Cell(self.category, self.disability, sex, age_band)
                )
                widget.text = str(count) if count else ""
        finally:
            self._loading = was_loading

    def refresh(self) -> None:
        # The language changed: pickers show their choices in it; messages are re-made.
        if self.form is None:
            return
        self._loading = True
        try:
            for name, widget in self._inputs.items():
                if isinstance(widget, ChoiceField):
                    widget.pairs = self.form.choices(name)
        finally:
            self._loading = False
        if self._language != language():
            self._relabel()
        self._show_check()

    def _relabel(self) -> None:
        """The language changed while the form was open: its title, the "no GPS" line and the
        record's banner were made in the old one (they stayed "New activity", "No GPS on this
        device…" in Portuguese)."""
        self._language = language()
        record = self._record
        self.heading = _("New activity") if record is None else _("Edit activity")
        if not self.has_gps:
            self.gps_status = _("No GPS on this device: type the coordinates")
        if record is not None:
            self._explain_again(record)

    def _explain_again(self, record: Any) -> None:
        """The record's banner made again (in the language of now, for the site chosen now),
        with the server's reasons only for the fields still showing one."""
        still = set(self._server_errors)
        self._explain(record)
        self._server_errors = {k: v for k, v in self._server_errors.items() if k in still}

    # -- editing -------------------------------------------------------------------------------

    def _text_changed(self, widget: Any, text: str) -> None:
        if self._loading or self.form is None or self.read_only:
            return
        self._dirty = True
        self._server_errors.pop(widget.field_name, None)
        self.form.set(widget.field_name, text)
        self._show_check()

    def _choice_changed(self, widget: Any, code: str) -> None:
        if self._loading or self.form is None or self.read_only:
            return
        self._dirty = True
        self._server_errors.pop(widget.field_name, None)
        self.form.set(widget.field_name, code)
        if widget.field_name == "site" and self._site_banner and self.banner == self._site_banner:
            # Another site chosen: the banner about the rejected one goes at once, and the
            # record's own banner (refused, returned, safe …) shows as it would at this site.
            self._site_banner = ""
            self.banner, self.banner_tone = "", "error"
            if self._record is not None:
                self._explain_again(self._record)
        if widget.field_name == "topic":
            modality = self._inputs["modality"]
            self._loading = True
            try:
                modality.pairs = self.form.choices("modality")
                modality.code = self.form.text("modality")
                modality._show()
            finally:
                self._loading = False
        self._show_check()

    def _cell_changed(self, widget: AttendanceCell, text: str) -> None:
        if self._loading or self.form is None or self.read_only:
            return
        self._dirty = True
        self._server_errors.pop("attendance", None)
        self.form.set_attendance(
            Cell(self.category, self.disability, widget.sex, widget.age_band), text
        )
        self._show_check()

    def show_grid(self, category: str | None = None, disability: bool | None = None) -> None:
        """Show another part of the grid. Another category starts without a disability: the
        choice made for one category must not carry over (technicians were recorded as
        disabled because "With a disability" stayed chosen)."""
        if category is not None and category != self.category:
            self.category = category
            self.disability = False
        if disability is not None:
            self.disability = disability
        self._load_cells()
        self._show_check()

    def _show_check(self) -> None:
        form = self.form
        if form is None:
            return
        self.errors = {**self._server_errors, **form.visible_errors()}
        self.warnings = form.warnings()
        self.new_site = form.new_site
        grid = form.attendance
        keys = {"category": self.category, "disability": self.disability}
        # A row's total by its sex ("sex:unspecified"), a column's by its age band
        # ("age:unspecified"): both axes have an "unspecified", and one key for the two showed
        # the "Age not stated" column's total on the "Not stated" row too.
        totals: dict[str, str] = {}
        for sex in SEXES:
            totals[f"sex:{sex}"] = _count(grid.total(sex=sex, **keys))
        for age_band in AGE_BANDS:
            totals[f"age:{age_band}"] = _count(grid.total(age_band=age_band, **keys))
        totals["all"] = _count(grid.total(**keys))
        totals["share"] = format_share(grid.women_share(**keys))
        self.totals = totals
        self.category_totals = chip_counts(grid, self.category)
        self.grid_caption = grid_caption(self.category, self.disability)
        self.summary = form.totals_text()
        self.nobody_counted = form.attendance.total() == 0
        for (sex, age_band), widget in self._cells.items():
            widget.has_error = (
                Cell(self.category, self.disability, sex, age_band) in form.attendance_errors
            )
        self.roster_count = len(form.participant_ids)

    # -- location ------------------------------------------------------------------------------

    def use_gps(self) -> None:
        self.say("gps_status", lambda: _("Waiting for a GPS fix…"))
        try:
            self.session.device.start_gps(self._fix, self._gps_state)
        except DeviceUnavailable as exc:
            missing = exc  # its words chosen again in the new language after a switch
            self.say("gps_status", lambda: str(missing))

    @mainthread
    def _fix(self, fix: Fix) -> None:
        self.session.device.stop_gps()
        if self.form is None:
            return
        self.form.set_location(fix.lat, fix.lon, fix.accuracy_m)
        self._loading = True
        try:
            for name in ("lat", "lon", "accuracy"):
                self._inputs[name].text = self.form.text(name)
        finally:
            self._loading = False
        self._dirty = True
        accuracy = f" ± {fix.accuracy_m:.0f} m" if fix.accuracy_m is not None else ""
        self.say("gps_status", lambda: _("Location recorded{accuracy}").format(accuracy=accuracy))
        self._show_check()

    @mainthread
    def _gps_state(self, text: str) -> None:
        if "disabled" in text.lower():
            self.say(
                "gps_status",
                lambda: _("GPS is switched off: switch it on or type the coordinates"),
            )

    def record_measurement(self) -> None:
        """Record a measurement for this activity (and its site), in its project."""
        if self.form is None or not self._activity_id:
            return
        self.app.show(
            "measurements",
            project_id=self.form.facts.id,
            site_id=self._site_id or None,
            activity_id=self._activity_id,
        )

    # -- photos --------------------------------------------------------------------------------

    def choose_photo(self) -> None:
        """The platform's own picker where there is one (Android); else the app's chooser."""
        device = self.session.device
        if device.has_photo_picker():
            try:
                device.pick_photo(mainthread(self._picked))
                return
            except DeviceUnavailable as exc:
                missing = exc
                self.say("busy", lambda: str(missing))
        PhotoChooser(
            start=pictures_folder(Path.home()),
            on_chosen=self._add_photo,
            on_camera=self.take_photo,
            has_camera=self.has_camera,
            title=lambda: _("Add a photo"),
        ).open()

    def _picked(self, path: Path | None) -> None:
        if path is not None:
            self._add_photo(path)

    def take_photo(self) -> None:
        self.session.photos_dir.mkdir(parents=True, exist_ok=True)
        target = self.session.photos_dir / "camera.jpg"
        try:
            self.session.device.take_photo(target, mainthread(self._camera_done))
        except DeviceUnavailable as exc:
            missing = exc
            self.say("busy", lambda: str(missing))

    def _camera_done(self, path: Path | None) -> None:
        if path is not None:
            self._add_photo(path, remove_source=True)

    def _add_photo(self, path: Path, remove_source: bool = False) -> None:
        """Downscale on a worker thread (no GL needed): the form says "Preparing the photo…"
        and stays usable; a save asked meanwhile waits for the photo."""
        self.say("busy", lambda: _("Preparing the photo…"))
        self.preparing += 1
        self._dirty = True  # leaving now asks first, and drops the photo when it is ready
        form, photos_dir = self.form, self.session.photos_dir

        def work() -> Any:
            try:
                return downscale(path, photos_dir)
            finally:
                if remove_source:
                    path.unlink(missing_ok=True)

        def done(photo: Any, error: BaseException | None) -> None:
            self.preparing -= 1
            if self.form is not form or form is None:  # the form was left meanwhile
                if photo is not None:
                    Path(photo.path).unlink(missing_ok=True)
                return
            if isinstance(error, PhotoError):
                refused = error
                self.say("busy", lambda: str(refused))
                self._save_when_ready = False
                return
            if error is not None:
                self._save_when_ready = False
                raise error
            if form.add_photo(photo):
                self._added_photos.append(photo.path)
                self._dirty = True
                self.busy = "" if not self.preparing else self.busy
                self._show_photos()
            else:
                # The same photo is on the form already: its downscaled copy (about 1 MB)
                # would stay in the photos folder, nobody's, and nothing said why nothing
                # happened.
                if all(p.path != photo.path for p in form.photos):
                    Path(photo.path).unlink(missing_ok=True)
                self.say("busy", lambda: _("This photo is already on the form."))
            if self._save_when_ready and not self.preparing:
                self._save_when_ready = False
                self.save()

        in_background(work, done)

    def set_caption(self, photo_id: str, caption: str) -> None:
        """A photo's caption, typed under it: a new photo's travels with it, an already saved
        photo's goes as a caption change at the next save."""
        if self.form is None or self._loading or _read_only(self):
            return
        changed = False
        for index, photo in enumerate(self.form.photos):
            if photo.id == photo_id and photo.caption != caption:
                self.form.photos[index] = replace(photo, caption=caption)
                changed = True
        if changed:
            self._dirty = True

    def remove_photo(self, photo_id: str) -> None:
        if self.form is None:
            return
        self.form.remove_photo(photo_id)
        self._dirty = True
        self._show_photos()

    def _show_photos(self) -> None:
        assert self.form is not None
        self.photos = [
            {"photo_id": p.id, "source": p.path, "caption": p.caption} for p in self.form.photos
        ]

    def on_photos(self, _screen: Any, photos: list[dict[str, Any]]) -> None:
        strip = self.ids.photo_strip
        strip.clear_widgets()
        for photo in photos:
            strip.add_widget(PhotoThumb(**photo, read_only=self.read_only))

    # -- roster --------------------------------------------------------------------------------

    def open_roster(self) -> None:
        assert self.form is not None
        self.app.show(
            "roster",
            project_id=self.form.facts.id,
            ticked=list(self.form.participant_ids),
            form=self.form,
        )

    def _after_roster(self) -> None:
        # The roster screen wrote the ticks (and maybe the attendance) into the form.
        self._load_cells()
        self._show_check()

    # -- saving --------------------------------------------------------------------------------

    def save(self) -> None:
        if self.form is None or self.read_only:
            return
        if self.preparing:
            # The photo is still being downscaled: save the moment it is ready.
            self._save_when_ready = True
            self.say("banner", lambda: _("Saving as soon as the photo is ready…"))
            self.banner_tone = "info"
            return
        try:
            self.session.save(self.form)
        except FormInvalid as exc:
            self._show_check()
            refused = exc.errors
            self.say("banner", lambda: str(FormInvalid(refused)))
            self.banner_tone = "error"
            self.ids.scroll.scroll_to(self._first_error_widget(), padding=40)
            return
        self._dirty = False
        self._added_photos = []
        self.app.changed()  # the store's save already woke the background sync
        project_id = self.form.facts.id
        self.form = None
        self.app.back_to("activities", project_id=project_id)

    def delete(self) -> None:
        """Delete the activity opened (after the user confirms): off the tablet at once, and
        a tombstone on the server at the next sync."""
        if self.form is None or self.read_only or not self._activity_id:
            return
        ConfirmDelete(self._delete, title=lambda: _("Delete this activity?")).open()

    def _delete(self) -> None:
        if self.form is None or not self._activity_id:
            return
        self.session.delete(self._activity_id)
        self._dirty = False
        self._discard_photos()
        self.app.changed()
        self.app.status_changed()
        project_id = self.form.facts.id
        self.form = None
        self.app.back_to("activities", project_id=project_id)

    def _first_error_widget(self) -> Any:
        order = [*TEXT_FIELDS, *CHOICE_FIELDS]
        names = sorted(self.errors, key=lambda n: order.index(n) if n in order else len(order))
        for name in names:
            if name in self._inputs:
                return self._inputs[name]
        return self.ids.attendance_box

    def can_leave(self) -> bool:
        if not self._dirty:
            self._discard_photos()
            return True
        ConfirmDiscard(self._discard, title=lambda: _("Leave without saving?")).open()
        return False

    def _discard(self) -> None:
        self._dirty = False
        self._discard_photos()
        self.form = None
        self.app.back()

    def _discard_photos(self) -> None:
        for path in self._added_photos:
            Path(path).unlink(missing_ok=True)
        self._added_photos = []


def _read_only(screen: Any) -> bool:
    """Whether ``screen``'s record takes no change: the photo methods serve the measurement
    form too (ObservationScreen borrows them), which has no ``read_only``, only ``locked``."""
    return bool(getattr(screen, "read_only", getattr(screen, "locked", False)))


def _count(value: int) -> str:
    return number(value) if value else ""
