"""Measurements of a project: "Record a measurement" with each form the project offers, and
the project's observations with their states. The logic is
:mod:`field_app.controllers.observations`; the store is read on a worker thread."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.recycleview.views import RecycleDataViewBehavior

from field_app.controllers import observations as obs
from field_app.i18n import _
from field_app.screens.base import BaseScreen
from field_app.screens.widgets import PMButton


class FormButton(PMButton):
    form_id = StringProperty("")


class ObservationRowView(RecycleDataViewBehavior, ButtonBehavior, BoxLayout):
    observation_id = StringProperty("")
    title = StringProperty("")
    subtitle = StringProperty("")
    comment = StringProperty("")
    state_name = StringProperty("")
    state_label = StringProperty("")

    def on_release(self) -> None:
        App.get_running_app().screen("measurements").open(self.observation_id)


class MeasurementsScreen(BaseScreen):
    project_title = StringProperty("")
    context = StringProperty("")
    offered = BooleanProperty(True)
    count = NumericProperty(0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project_id = ""
        self.site_id: str | None = None
        self.activity_id: str | None = None

    def enter(
        self,
        project_id: str | None = None,
        site_id: str | None = None,
        activity_id: str | None = None,
        returning: bool = False,
        **_params: Any,
    ) -> None:
        if not returning and project_id:
            self.project_id = str(project_id)
            self.site_id, self.activity_id = site_id, activity_id
        project = self.session.project(self.project_id) or {}
        self.project_title = f"{project.get('code', '')} · {project.get('name', '')}"
        self.refresh()

    def gather(self) -> dict[str, Any]:
        backend = self.session.backend
        forms = backend.forms()
        sites = {str(s["id"]): str(s.get("name") or "") for s in backend.sites(self.project_id)}
        records = backend.observations(self.project_id)
        activity = backend.activity(self.activity_id) if self.activity_id else None
        return {
            "offered": obs.offered_forms(forms, self.project_id),
            "rows": obs.rows([(r.data, r.state) for r in records], forms, site_names=sites),
            "site": sites.get(str(self.site_id or ""), ""),
            "activity": str(activity.data.get("title") or "") if activity else "",
        }

    def show(self, data: dict[str, Any]) -> None:
        parts = []
        if data["activity"]:
            parts.append(_("For the activity: {title}").format(title=data["activity"]))
        if data["site"]:
            parts.append(_("At the site: {site}").format(site=data["site"]))
        self.context = "\n".join(parts)
        box = self.ids.forms
        box.clear_widgets()
        for form in data["offered"]:
            button = FormButton(text="+ " + obs.text_of(form.get("title")), form_id=form["id"])
            button.bind(on_release=lambda b: self.record(b.form_id))
            box.add_widget(button)
        self.offered = bool(data["offered"])
        # A RecycleView: 10 000 measurements make only the rows on screen.
        self.ids.rows.data = [
            {
                "observation_id": row.id,
                "title": row.title,
                "subtitle": " · ".join(p for p in (row.subtitle, row.status_label) if p),
                "comment": row.comment,
                "state_name": row.state,
                "state_label": row.state_label,
                "height": dp(120) if row.comment else dp(92),
            }
            for row in data["rows"]
        ]
        self.count = len(data["rows"])

    def record(self, form_id: str) -> None:
        self.app.show(
            "observation",
            project_id=self.project_id,
            form_id=form_id,
            site_id=self.site_id,
            activity_id=self.activity_id,
        )

    def open(self, observation_id: str) -> None:
        self.app.show("observation", observation_id=observation_id)
