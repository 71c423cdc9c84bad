"""Record (or correct) one measurement: the fields of a form version, one widget per type.

The logic is :class:`~field_app.controllers.observations.ObservationForm`; this screen draws its
fields — numbers with their unit and bounds, selects as large touch targets, select_multiple as
toggles, dates on a calendar, yes/no — hides the ones the answers do not ask, and shows the
shared validation next to each field. Photos reuse the activity form's flow (downscaled on a
worker thread, kept by the store with the save)."""

from __future__ import annotations

from typing import Any

from kivy.properties import (
    BooleanProperty,
    DictProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.stacklayout import StackLayout

from field_app.controllers import observations as obs
from field_app.controllers.attention import server_message
from field_app.controllers.messages import rejected_site, rejected_site_message
from field_app.i18n import _, language
from field_app.screens import theme
from field_app.screens.base import BaseScreen, in_background
from field_app.screens.form import FormScreen
from field_app.screens.widgets import (
    Card,
    Chip,
    ConfirmDelete,
    ConfirmDiscard,
    DateField,
    FieldBox,
    FieldInput,
)

NO_SITE = ""


class AnswerChip(Chip):
    code = ObjectProperty(None, allownone=True)


class ChipStack(StackLayout):
    pass


class ObservationPhoto(BoxLayout):
    photo_id = StringProperty("")
    source = StringProperty("")
    caption = StringProperty("")


class ObservationScreen(BaseScreen):
    heading = StringProperty("")
    project_title = StringProperty("")
    errors = DictProperty({})
    banner = StringProperty("")
    banner_tone = StringProperty("error")
    locked = BooleanProperty(False)
    photos = ListProperty([])
    busy = StringProperty("")
    preparing = NumericProperty(0)
    has_camera = BooleanProperty(False)
    today = ObjectProperty(None, allownone=True)
    saved_record = BooleanProperty(False)  # a measurement already saved: it may be deleted
    # The measurement is at a site the office rejected: said next to the site, and not saved
    # (the server would refuse it, site_not_in_project).
    site_error = StringProperty("")

    # The activity form's photo flow, as it is (it works on ``self.form``'s photos).
    choose_photo = FormScreen.choose_photo
    _picked = FormScreen._picked
    take_photo = FormScreen.take_photo
    _camera_done = FormScreen._camera_done
    _add_photo = FormScreen._add_photo
    set_caption = FormScreen.set_caption
    remove_photo = FormScreen.remove_photo
    _show_photos = FormScreen._show_photos
    _discard_photos = FormScreen._discard_photos

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.form: obs.ObservationForm | None = None
        self._loading = False
        self._dirty = False
        self._added_photos: list[str] = []
        self._save_when_ready = False
        self._boxes: dict[str, FieldBox] = {}
        self._widgets: dict[str, Any] = {}
        self._project_id = ""
        self._observation_id = ""
        self._language = ""
        self._rejected_sites: dict[str, str] = {}  # id -> name

    def on_kv_post(self, base_widget: Any) -> None:
        self.ids.observed_on.bind(value=self._date_changed)
        self.ids.site.bind(code=self._site_changed)
        self.ids.notes.bind(text=self._notes_changed)

    # -- opening -------------------------------------------------------------------------------

    def enter(
        self,
        project_id: str | None = None,
        form_id: str | None = None,
        observation_id: str | None = None,
        site_id: str | None = None,
        activity_id: str | None = None,
        returning: bool = False,
        **_params: Any,
    ) -> None:
        if returning and self.form is not None:
            return
        backend = self.session.backend
        forms = backend.forms()
        record = backend.observation(observation_id) if observation_id else None
        if observation_id and record is None:
            raise LookupError(f"no observation {observation_id} on this tablet")
        if record is not None:
            project_id = str(record.data["project_id"])
            version = obs.form_version(
                forms, str(record.data["form_id"]), int(record.data["form_version"])
            )
        else:
            version = next((dict(f) for f in forms if str(f.get("id")) == str(form_id)), None)
        if version is None:
            raise LookupError("the form of this measurement is not on this tablet")
        self._project_id = str(project_id)
        project = self.session.project(self._project_id) or {}
        self.form = obs.ObservationForm(
            form=version,
            project_id=self._project_id,
            today=self.session.today(),
            record=record.data if record else None,
            site_id=site_id,
            activity_id=activity_id,
            photos=backend.observation_photos(record.id) if record else (),
        )
        self.project_title = f"{project.get('code', '')} · {project.get('name', '')}"
        self.heading = self.form.title
        self._language = language()
        self.today = self.session.today()
        self.locked = self.form.locked
        self.saved_record = record is not None
        self._observation_id = record.id if record is not None else ""
        self.has_camera = self.session.device.has_camera()
        self.banner, self.banner_tone = "", "error"
        if record is not None:
            self._explain(record)
        self._added_photos = []
        self._save_when_ready = False
        self.busy = ""
        self._build(backend.sites(self._project_id))
        self._dirty = False
        self.ids.scroll.scroll_y = 1

    def refresh(self) -> None:
        """The language changed while the form was open: its title, the fields' labels, hints,
        bounds and answers (the form's own translations) and "No site" follow at once (they
        stayed in the old language until the form was opened again)."""
        if self.form is None or self._language == language():
            return
        self._language = language()
        self.heading = self.form.title
        site = self.ids.site
        site.pairs = [(NO_SITE, _("No site"))] + [p for p in site.pairs if p[0] != NO_SITE]
        self._loading = True
        try:
            self._boxes, self._widgets = {}, {}
            for view in self.form.views():
                self._boxes[view.name] = self._field_box(view)
        finally:
            self._loading = False
        self._lay_out()

    def _explain(self, record: Any) -> None:
        # Said again in the new language after a switch, like every banner here; "safe" in
        # the activity form's words (docs/protocol.md#custody-receipts).
        def safe() -> str:
            return _(
                "Safe on the server: the server signed a receipt for this version and every photo."
            )

        if record.locked:
            self.say(
                "banner",
                lambda: " ".join(
                    [_("Approved: locked until the country office reopens it.")]
                    + ([safe()] if record.safe else [])
                ),
            )
            self.banner_tone = "info"
        elif record.safe and record.state == "synced":
            self.say("banner", safe)
            self.banner_tone = "safe"
        elif record.state == "returned":
            self.say(
                "banner",
                lambda: _("Returned by the country office: {comment}").format(
                    comment=record.comment or _("(no comment)")
                ),
            )
            self.banner_tone = "returned"
        elif record.state == "rejected" and record.errors:
            self.say(
                "banner",
                lambda: _("The server refused the last change: {reasons}").format(
                    reasons="; ".join(server_message(e) for e in record.errors)
                ),
            )

    # -- the fields ------------------------------------------------------------------------------

    def _build(self, sites: list[dict[str, Any]]) -> None:
        assert self.form is not None
        form = self.form
        self._loading = True
        self.ids.observed_on.value = form.observed_on
        # A site the office rejected is not offered; a measurement still at one is told so.
        self._rejected_sites = {
            str(s["id"]).lower(): str(s.get("name") or "") for s in sites if rejected_site(s)
        }
        self.ids.site.pairs = [(NO_SITE, _("No site"))] + [
            (str(s["id"]), str(s.get("name") or "")) for s in sites if not rejected_site(s)
        ]
        self.ids.site.code = str(form.record.get("site_id") or NO_SITE)
        self._check_site()
        self.ids.notes.text = form.notes
        self._boxes, self._widgets = {}, {}
        for view in form.views():
            self._boxes[view.name] = self._field_box(view)
        self._loading = False
        self._show_photos()
        self._lay_out()

    def _field_box(self, view: obs.FieldView) -> FieldBox:
        assert self.form is not None
        label = f"{view.label} ({view.unit})" if view.unit else view.label
        box = FieldBox(label=label, required=view.required)
        value = self.form.values.get(view.name)
        widget: Any
        if view.type in ("integer", "decimal", "text"):
            widget = FieldInput(
                multiline=False,
                text=self.form.texts.get(view.name, ""),
                hint_text=view.bounds,
                input_type="number" if view.type != "text" else "text",
                disabled=self.locked,
            )
            widget.bind(text=lambda w, text, name=view.name: self._typed(name, text))
        elif view.type == "date":
            widget = DateField(value=str(value or ""), disabled=self.locked)
            widget.bind(value=lambda w, text, name=view.name: self._typed(name, text))
        else:
            widget = ChipStack()
            pairs: list[tuple[Any, str]] = (
                [(True, _("Yes")), (False, _("No"))]
                if view.type == "boolean"
                else list(view.choices)
            )
            for code, text in pairs:
                chip = AnswerChip(text=text, code=code, disabled=self.locked)
                chip.bind(on_release=lambda c, name=view.name: self._tapped(name, c.code))
                widget.add_widget(chip)
        box.add_widget(widget)
        if view.hint or (view.bounds and view.type in ("date",)):
            hint = Label(
                text=view.hint or view.bounds,
                size_hint_y=None,
                font_size=theme.TEXT_SMALL,
                color=theme.INK_SOFT,
                halign="left",
            )
            hint.bind(
                width=lambda w, width: setattr(w, "text_size", (width, None)),
                texture_size=lambda w, size: setattr(w, "height", size[1]),
            )
            box.add_widget(hint)
        self._widgets[view.name] = widget
        return box

    def _lay_out(self) -> None:
        """Only the fields the answers ask, in form order; the others are hidden."""
        assert self.form is not None
        container = self.ids.fields
        for box in self._boxes.values():
            if box.parent is not None:
                box.parent.remove_widget(box)
        container.clear_widgets()
        card = Card(size_hint_y=None)
        card.bind(minimum_height=card.setter("height"))
        for view in self.form.visible():
            card.add_widget(self._boxes[view.name])
        container.add_widget(card)
        self._show_check()

    def _show_check(self) -> None:
        assert self.form is not None
        self.errors = self.form.shown_errors()
        chips_state = self.form.values
        for name, box in self._boxes.items():
            box.error = self.errors.get(name, "")
            widget = self._widgets[name]
            if hasattr(widget, "has_error"):
                widget.has_error = name in self.errors
            if isinstance(widget, ChipStack):
                held = chips_state.get(name)
                for chip in widget.children:
                    chosen = (
                        chip.code in held
                        if isinstance(held, list)
                        else (held is chip.code if isinstance(held, bool) else held == chip.code)
                    )
                    chip.state = "down" if chosen else "normal"

    # -- typing ------------------------------------------------------------------------------------

    def _typed(self, name: str, text: str) -> None:
        if self.form is None or self._loading:
            return
        self.form.set_text(name, text)
        self._dirty = True
        self._show_check()

    def _tapped(self, name: str, code: Any) -> None:
        if self.form is None or self._loading:
            return
        kind = self.form.fields[name].get("type")
        before = set(self.form.visible_names())
        if kind == "select_multiple":
            self.form.toggle(name, code)
        elif kind == "boolean":
            self.form.set_boolean(name, code)
        else:
            self.form.choose(name, code)
        self._dirty = True
        if set(self.form.visible_names()) != before:
            self._lay_out()  # relevance: a field appears or goes
        else:
            self._show_check()

    def _date_changed(self, _widget: Any, value: str) -> None:
        if self.form is None or self._loading:
            return
        self.form.set_observed_on(value)
        self._dirty = True
        self._show_check()

    def _site_changed(self, _widget: Any, code: str) -> None:
        if self.form is None or self._loading:
            return
        self.form.set_site(code or None)
        self._dirty = True
        self._check_site()

    def _check_site(self) -> None:
        assert self.form is not None
        name = self._rejected_sites.get(str(self.form.record.get("site_id") or "").lower())
        self.say("site_error", lambda: "" if name is None else rejected_site_message(name))

    def _notes_changed(self, _widget: Any, text: str) -> None:
        if self.form is None or self._loading:
            return
        self.form.notes = text
        self._dirty = True

    # -- photos ------------------------------------------------------------------------------------

    def on_photos(self, _screen: Any, photos: list[dict[str, Any]]) -> None:
        strip = self.ids.photo_strip
        strip.clear_widgets()
        for photo in photos:
            strip.add_widget(ObservationPhoto(**photo))

    # -- saving ------------------------------------------------------------------------------------

    def save(self) -> None:
        if self.form is None or self.locked:
            return
        if self.preparing:
            self._save_when_ready = True
            self.say("banner", lambda: _("Saving as soon as the photo is ready…"))
            self.banner_tone = "info"
            return
        save = self.form.to_save()
        if save is None or self.site_error:
            self._show_check()
            self.say("banner", lambda: _("Correct the fields marked in red, then save."))
            self.banner_tone = "error"
            first = (
                self.ids.site_box
                if self.site_error
                else next((self._boxes[n] for n in self._boxes if n in self.errors), None)
            )
            if first is not None and first.parent is not None:
                self.ids.scroll.scroll_to(first, padding=40)
            return
        form, backend = self.form, self.session.backend

        def done(_result: Any, error: BaseException | None) -> None:
            if error is not None:
                failed = error
                self.say("banner", lambda: str(failed))
                self.banner_tone = "error"
                return
            self._dirty = False
            self._added_photos = []
            self.app.changed()
            if self.form is form:
                self.form = None
            self.app.back_to("measurements", project_id=self._project_id)

        # One store transaction, off the UI thread (photo bytes are copied and fsynced).
        in_background(lambda: backend.save_observation(save), done)

    def delete(self) -> None:
        """Delete the measurement opened (after the user confirms), as an activity: off the
        tablet at once with its photos, a tombstone on the server at the next sync; not once
        approved."""
        if self.form is None or self.locked or not self._observation_id:
            return
        ConfirmDelete(self._delete, title=lambda: _("Delete this measurement?")).open()

    def _delete(self) -> None:
        if self.form is None or not self._observation_id:
            return
        self.session.delete_observation(self._observation_id)
        self._dirty = False
        self._discard_photos()
        self.app.changed()
        self.app.status_changed()
        self.form = None
        self.app.back_to("measurements", project_id=self._project_id)

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
