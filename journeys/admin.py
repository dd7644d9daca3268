"""The club admin's Journeys: the visual builder with per-step analytics, the state buttons
(publish, pause, resume, archive), ready-made journeys to start from, the versions, the
enrolments (with "exit") and the staff tasks `notify` steps make ("call this member").

Every write goes through `journeys.services`: the form asks `journey_create` / `journey_update`
as the last step of its validation, so what they refuse becomes form errors next to what is
wrong (a definition's errors under the step and field their path names), never a stack trace;
a refused state change becomes a message saying why.

Who may do what follows the club API's scopes (`crm.api.permissions.caller_scopes`), so the
admin and the API never disagree:
- every role reads journeys, versions and enrolments (`crm:read`; STAFF too, read-only, as
  segments and campaigns are);
- MARKETING and ADMIN (`crm:campaigns`, the API's journey write scope) create, edit, publish,
  pause, resume, archive, migrate and exit enrolments;
- staff tasks are for any staff role: reading them needs `crm:read`, closing one (done or
  dismissed) `crm:notes`, `crm:write` or `crm:campaigns`, as `POST staff-tasks/<id>/complete`.
A journey is deleted only while it is a draft never published (`journey_delete`, as the API);
anything that ever ran is archived instead.

The builder
-----------
`static/journeys/journey-builder.js` (with `journey-form.js` wiring it to this page) is plain
JavaScript drawing absolutely placed cards and one SVG for the connectors: no framework, no
bundler, nothing vendored. A flow library was not needed: the flow is a graph without loops,
laid out automatically in about a hundred lines; the node editors people reach for leave placing
nodes to the user (Drawflow) or bring React and a bundler (React Flow), and neither knows what a
branch of ours means. The one library it uses is the segments' own rule builder
(`segments/static/segments/rule-builder.js`), embedded as it is for condition steps and the
entry and exit rules, so a journey's rules are built exactly as segments' are. The per-step
chart reuses the Chart.js the campaigns admin vendors (`campaigns/vendor/chartjs`).

Choices made where the issue was silent:
- The flow is laid out automatically (rows by the longest path from the start, so the step two
  branches meet at sits below both; a column per chain of first branches). The definition's
  `position` on a step (the presets carry one) is kept as it is but not used for drawing: a
  layout that follows the graph stays readable as steps are added, and nobody has to tidy it.
- "+" on a connector inserts a step there: the new step's branches all continue to where the
  connector went (a condition's yes and no both, a split's A and B 50/50), to be re-pointed in
  the side panel. Deleting a step links what led to it to where its first branch went (yes, "it
  happened", the first split branch); steps only its other branches reached go too, after a
  confirmation naming them. Changes of shape can be undone (Undo, on the page). New step keys
  are the type (`send`, `send_2`); renaming a key re-links every reference.
- In the side panel a branch can only point to a step that cannot lead back to it, so the
  builder never makes a loop (a loop typed into the JSON is drawn in red and refused on save).
- The draft is checked by the server as it is edited (`validate/`, which only calls
  `definition_parse` with the club's segment ids; nothing is saved), and each problem is shown
  on its step's card and under the field its path names. The services check a draft in full
  when it is saved, so one with problems is not saved: the page comes back with what was typed
  and the problems in place. A saved draft can still go stale (a segment it names deleted):
  publishing it is refused and the page marks why.
- "Save draft" keeps the page open; "Save and publish" saves and publishes in one go (one
  transaction: the admin's change view is atomic). The publish/pause/resume/archive buttons at
  the top act on what is saved and say so when the page has unsaved edits; "Publish" shows only
  while the draft differs from the published version (publishing it again would change nothing).
- Per-step numbers on the cards are `journey_stats` over all versions (by step key), or one
  version chosen above the builder; the connectors carry how many took each branch.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.forms.fields import InvalidJSONInput
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin, TabularInline

from crm.accounts.scopes import NOTES, Role, Scope
from crm.admin_base import ReadOnlyAdmin, SettingsAdmin
from crm.admin_sites import club_admin_site
from crm.api.permissions import caller_scopes
from crm.inputs import UNSET, fields_given
from journeys.definition import (
    CHANNELS,
    LIFECYCLE_STAGES,
    STAFF_ROLES,
    DefinitionError,
    definition_parse,
    empty_definition,
)
from journeys.models import (
    LIVE_STATUSES,
    Enrolment,
    EnrolmentEvent,
    EnrolmentStatus,
    FeedbackSettings,
    Journey,
    JourneyStatus,
    JourneyVersion,
    RoundSurveyAnswer,
    StaffTask,
    StaffTaskStatus,
)
from journeys.presets import journey_templates
from journeys.selectors import (
    enrolment_events,
    journey_enrolments,
    journey_stats,
    journey_versions,
    staff_tasks,
)
from journeys.services import (
    JourneyInput,
    JourneyStateError,
    enrolment_exit,
    journey_archive,
    journey_create,
    journey_delete,
    journey_migrate,
    journey_pause,
    journey_publish,
    journey_resume,
    journey_template_copy,
    journey_update,
    staff_task_complete,
)
from journeys.webhooks import unsigned_step_problems
from profiles.envelope import PAYLOADS
from segments.fields import GROUPS, OPERATOR_LABELS, catalogue_for_builder
from segments.models import Segment
from segments.selectors import picker_values

# Which buttons a state shows (the services still decide; these only avoid dead buttons).
BUTTONS = {
    JourneyStatus.DRAFT: ("publish", "archive"),
    JourneyStatus.ACTIVE: ("publish", "pause", "archive"),
    JourneyStatus.PAUSED: ("publish", "resume", "archive"),
    JourneyStatus.ARCHIVED: (),
}
CONFIRM = {
    "publish": "Publish the saved draft as a new version? New enrolments start on it; customers "
    "already inside finish the version they started on.",
    "pause": "Pause the journey? Nobody enrols and no step runs until you resume it.",
    "resume": "",
    "archive": "Archive the journey? Everyone still in it leaves it, and it never runs again.",
}
DATE_FIELD_LABELS = (
    ("renewalDueOn", "Renewal due date"),
    ("dateOfBirth", "Birthday (every year)"),
    ("memberSince", "Joining anniversary (every year)"),
)
EXIT_REASON = "Exited by staff in the admin"
# Exiting is one service call per enrolment (each is audited and logged); more than this many at
# once is work for the API or a journey's archive, not a page of the admin.
EXIT_LIMIT = 500
LATEST_ENROLMENTS = 10


# --- who may do what ---------------------------------------------------------------------------


def can_read(request: HttpRequest) -> bool:
    return Scope.READ in caller_scopes(request)


def can_write(request: HttpRequest) -> bool:
    return Scope.CAMPAIGNS in caller_scopes(request)


def can_close_tasks(request: HttpRequest) -> bool:
    return bool({Scope.CAMPAIGNS, Scope.WRITE, NOTES} & caller_scopes(request))


def _actor(request: HttpRequest) -> str:
    return request.user.email


def _messages_of(exc: ValidationError) -> dict[str, list[str]]:
    if isinstance(exc, DefinitionError):
        return {key: list(value) for key, value in exc.errors.items()}
    if hasattr(exc, "error_dict"):
        return exc.message_dict
    return {"": exc.messages}


def _say(exc: ValidationError) -> str:
    return "; ".join(
        f"{key}: {' '.join(messages_)}" if key else " ".join(messages_)
        for key, messages_ in _messages_of(exc).items()
    )


def definition_errors(definition: Any) -> dict[str, list[str]]:
    """What keeps a definition from being published: `definition_parse`'s errors with this
    club's segments, and its webhook steps while the club has no webhook secret to sign with."""
    try:
        definition_parse(
            definition, known_segment_ids=set(Segment.objects.values_list("id", flat=True))
        )
    except DefinitionError as exc:
        errors = {key: list(value) for key, value in exc.errors.items()}
    else:
        errors = {}
    for key, problems in unsigned_step_problems(definition).items():
        errors.setdefault(key, []).extend(problems)
    return errors


NO_RATE = "\N{EN DASH}"


def _percent(rate: float | None) -> str:
    return NO_RATE if rate is None else f"{rate * 100:.1f}%"


# --- the form ----------------------------------------------------------------------------------


class JourneysReadOnlyAdmin(ReadOnlyAdmin):
    """Rows the engine and the services write: every staff role reads them, nobody edits them
    here (actions such as "exit" or "mark done" go through the services)."""

    read_scope = Scope.READ


class DefinitionJSONField(forms.JSONField):
    """The definition as JSON text, indented for people who read it."""

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, InvalidJSONInput):
            return value
        if value is None:
            return ""
        return json.dumps(value, indent=2, ensure_ascii=False)


class JourneyForm(forms.ModelForm):
    definition = DefinitionJSONField(
        label="Journey (JSON)",
        widget=forms.Textarea(
            attrs={"rows": 18, "spellcheck": "false", "class": "vLargeTextField jr-json-input"}
        ),
    )
    # Set per request by JourneyAdmin.get_form: who is acting, for the audit rows.
    actor_label = ""

    class Meta:
        model = Journey
        fields = ("name", "description", "definition")
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "class": "vLargeTextField"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.journey: Journey | None = None
        # Definition errors by path (`steps.wait.duration`), for the builder to show in place.
        self.definition_errors: dict[str, list[str]] = {}

    def validate_unique(self) -> None:
        """Names are the service's to judge."""

    def _post_clean(self) -> None:
        super()._post_clean()
        if self._errors:
            return
        try:
            self.journey = self._save_through_service()
        except JourneyStateError as exc:
            self.add_error(None, str(exc))
        except ValidationError as exc:
            self._add_service_errors(exc)

    def _save_through_service(self) -> Journey:
        data = self.cleaned_data
        if self.instance._state.adding:
            return journey_create(
                data=JourneyInput(
                    name=data.get("name", ""),
                    description=data.get("description", ""),
                    definition=data.get("definition", UNSET),
                ),
                actor_label=self.actor_label,
            )
        changes = JourneyInput(
            **{
                key: data[key]
                for key in ("name", "description", "definition")
                if key in self.changed_data
            }
        )
        # The service reads the journey as stored: the form has already copied the new values
        # onto `self.instance`.
        stored = Journey.objects.get(pk=self.instance.pk)
        if not fields_given(changes):
            return stored
        return journey_update(journey=stored, data=changes, actor_label=self.actor_label)

    def _add_service_errors(self, exc: ValidationError) -> None:
        for key, errors in _messages_of(exc).items():
            if key in ("name", "description"):
                self.add_error(key, errors)
            elif key in ("", "templateKey"):
                self.add_error(None, errors)
            else:  # a path in the definition, maybe prefixed with the field's own name
                path = key.removeprefix("definition.") if key != "definition" else key
                self.definition_errors[path] = list(errors)
        if self.definition_errors:
            self.add_error(
                "definition",
                [
                    f"{path}: {message}"
                    for path, messages_ in self.definition_errors.items()
                    for message in messages_
                ],
            )


class TemplateCopyForm(forms.Form):
    key = forms.CharField(widget=forms.HiddenInput)
    name = forms.CharField(max_length=200, label="Name of your copy")


# --- journeys ----------------------------------------------------------------------------------


class LiveEnrolmentsFilter(admin.SimpleListFilter):
    title = "customers inside"
    parameter_name = "inside"

    def lookups(self, request, model_admin):
        return (("yes", "Some"), ("no", "None"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(live_count__gt=0)
        if self.value() == "no":
            return queryset.filter(live_count=0)
        return queryset


@admin.register(Journey, site=club_admin_site)
class JourneyAdmin(ModelAdmin):
    form = JourneyForm
    change_form_template = "admin/journeys/journey/change_form.html"
    change_list_template = "admin/journeys/journey/change_list.html"
    list_display = (
        "name", "status", "trigger", "published", "live", "enrolled", "conversion", "updated_at",
    )  # fmt: skip
    list_filter = ("status", "trigger_type", LiveEnrolmentsFilter)
    search_fields = ("name", "description")
    actions = None  # state changes go through the services, one journey at a time
    fieldsets = ((None, {"fields": ("name", "description")}),)

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("published_version")
        match = getattr(request, "resolver_match", None)
        if match is None or match.url_name != "journeys_journey_changelist":
            return queryset  # one journey's pages count with journey_stats instead
        # The list's figures in the same query: one GROUP BY over the enrolments.
        return queryset.annotate(
            live_count=Count("enrolments", filter=Q(enrolments__status__in=LIVE_STATUSES)),
            enrolled_count=Count("enrolments"),
            converted_count=Count(
                "enrolments", filter=Q(enrolments__status=EnrolmentStatus.CONVERTED)
            ),
        )

    @admin.display(description="Trigger")
    def trigger(self, obj: Journey) -> str:
        trigger = (obj.definition or {}).get("trigger") or {}
        kind = trigger.get("type", "")
        if kind == "event":
            return f"event {trigger.get('eventType', '')}"
        if kind == "date":
            return f"date {trigger.get('field', '')} {trigger.get('offsetDays', 0):+d}d"
        return kind

    @admin.display(description="Published")
    def published(self, obj: Journey) -> str:
        return f"v{obj.published_version.number}" if obj.published_version else "—"

    @admin.display(description="Inside now", ordering="live_count")
    def live(self, obj: Journey) -> int:
        return obj.live_count

    @admin.display(description="Enrolled", ordering="enrolled_count")
    def enrolled(self, obj: Journey) -> int:
        return obj.enrolled_count

    @admin.display(description="Conversion")
    def conversion(self, obj: Journey) -> str:
        return _percent(obj.converted_count / obj.enrolled_count if obj.enrolled_count else None)

    # -- permissions: the API's scopes --

    def has_module_permission(self, request) -> bool:
        return can_read(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return can_read(request)

    def has_add_permission(self, request) -> bool:
        return can_write(request)

    def has_change_permission(self, request, obj=None) -> bool:
        # An archived journey is a record: shown, never edited.
        return can_write(request) and (obj is None or obj.status != JourneyStatus.ARCHIVED)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Only a draft never published, as the API (journey_delete); the rest is archived.
        return can_write(request) and (
            obj is None or (obj.status == JourneyStatus.DRAFT and obj.published_version_id is None)
        )

    def delete_model(self, request, obj: Journey) -> None:
        journey_delete(journey=obj, actor_label=_actor(request))

    def get_deleted_objects(self, objs, request):
        """Just the draft: it has no versions, enrolments or tasks yet."""
        journeys = list(objs)
        return [str(journey) for journey in journeys], {"journeys": len(journeys)}, set(), []

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except JourneyStateError as exc:
            messages.error(request, f"Not deleted: {exc}")
            return HttpResponseRedirect(self._url("change", unquote(object_id)))

    # -- the form, saved through the services --

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["fields"] = [*(kwargs.get("fields") or ()), "definition"]
        base = super().get_form(request, obj, change=change, **kwargs)
        return type(base.__name__, (base,), {"actor_label": _actor(request)})

    def get_changeform_initial_data(self, request):
        return {**super().get_changeform_initial_data(request), "definition": empty_definition()}

    def save_form(self, request, form, change):
        return form.journey

    def save_model(self, request, obj, form, change) -> None:
        """Already saved by the service when the form validated (see the module docstring)."""

    def save_related(self, request, form, formsets, change) -> None:
        """A journey has no related forms."""

    def response_add(self, request, obj, post_url_continue=None):
        if "_publish" in request.POST:
            return self._publish_after_save(request, obj)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if "_publish" in request.POST:
            return self._publish_after_save(request, obj)
        return super().response_change(request, obj)

    def _publish_after_save(self, request: HttpRequest, journey: Journey) -> HttpResponse:
        try:
            version = journey_publish(journey=journey, actor_label=_actor(request))
        except JourneyStateError as exc:
            messages.warning(request, f"Saved, not published: {exc}")
        except ValidationError as exc:
            count = len(_messages_of(exc))
            messages.warning(
                request,
                f"Saved as a draft, not published: {count} problem(s) to fix first, marked in "
                "the builder.",
            )
        else:
            messages.success(request, f"Saved and published as version {version.number}.")
        return HttpResponseRedirect(self._url("change", journey.pk))

    # -- the change page --

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context["adminform"].form
        context.update(self._builder_context(request, form, obj))
        if obj is not None:
            context.update(self._journey_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _stats_version(self, request: HttpRequest, journey: Journey) -> JourneyVersion | None:
        raw = request.GET.get("stats_version", "")
        if not raw.isdigit():
            return None
        return JourneyVersion.objects.filter(journey=journey, number=int(raw)).first()

    def _builder_context(
        self, request: HttpRequest, form: JourneyForm, obj: Journey | None
    ) -> dict[str, Any]:
        editable = self.has_change_permission(request, obj) if obj else can_write(request)
        stats = None
        stats_version = None
        if obj is not None:
            stats_version = self._stats_version(request, obj)
            if stats_version is not None or obj.published_version_id:
                stats = journey_stats(journey=obj, version=stats_version)
        if form.is_bound and getattr(form, "definition_errors", None):
            errors = form.definition_errors
        elif form.is_bound:
            errors = {}
        else:
            errors = definition_errors(obj.definition if obj else empty_definition())
        chart = None
        if stats and stats["enrolled"]:
            rows = [row for row in stats["steps"] if row["entered"] or row["waiting"]]
            chart = {
                "labels": [row["label"] or row["key"] for row in rows],
                **{
                    name: [row[name] for row in rows]
                    for name in ("entered", "completed", "exited", "converted")
                },
            }
        config = {
            "definition": obj.definition if obj is not None else empty_definition(),
            "stats": stats,
            "errors": errors,
            "readOnly": not editable,
            "validateUrl": reverse(f"{self.admin_site.name}:journeys_journey_validate")
            if editable
            else "",
            "catalog": {
                "eventTypes": sorted(PAYLOADS),
                "segments": [
                    {"id": str(pk), "name": name}
                    for pk, name in Segment.objects.order_by("name").values_list("id", "name")
                ],
                "channels": list(CHANNELS),
                "roles": list(STAFF_ROLES),
                "lifecycleStages": list(LIFECYCLE_STAGES),
                "dateFields": [{"value": v, "label": label} for v, label in DATE_FIELD_LABELS],
            },
            "rules": {
                "groups": [{"key": key, "label": label} for key, label in GROUPS],
                "fields": catalogue_for_builder(),
                "operatorLabels": OPERATOR_LABELS,
                "pickers": picker_values(),
            },
            "chart": chart,
        }
        return {
            "builder_config": config,
            "builder_editable": editable,
            "definition_field": form["definition"] if "definition" in form.fields else None,
            "definition_pretty": json.dumps(
                obj.definition if obj else empty_definition(), indent=2, ensure_ascii=False
            ),
            "stats": stats,
            "stats_version": stats_version,
            "conversion": _percent(stats["conversionRate"]) if stats else NO_RATE,
            "chart": chart,
            "templates_url": self._url("templates"),
        }

    def _journey_context(self, request: HttpRequest, journey: Journey) -> dict[str, Any]:
        writable = can_write(request)
        published = journey.published_version
        live_by_version = dict(
            Enrolment.objects.filter(journey=journey, status__in=LIVE_STATUSES)
            .order_by()
            .values_list("version")
            .annotate(n=Count("id"))
        )
        versions = [
            {
                "version": version,
                "live": live_by_version.get(version.pk, 0),
                "url": reverse(
                    f"{self.admin_site.name}:journeys_journeyversion_change", args=[version.pk]
                ),
                "migrate_url": self._url("migrate", journey.pk, version.number)
                if writable
                and published is not None
                and version.pk != published.pk
                and live_by_version.get(version.pk)
                and journey.status != JourneyStatus.ARCHIVED
                else "",
            }
            for version in journey_versions(journey=journey)
        ]
        enrolments_url = reverse(f"{self.admin_site.name}:journeys_enrolment_changelist")
        tasks_url = reverse(f"{self.admin_site.name}:journeys_stafftask_changelist")
        draft_changed = published is not None and published.definition != journey.definition
        # Publishing a draft that is already the published version changes nothing: no button.
        actions = [
            action
            for action in BUTTONS.get(journey.status, ())
            if action != "publish" or published is None or draft_changed
        ]
        return {
            "journey": journey,
            "can_write": writable,
            "club_tz": request.tenant.timezone,
            "draft_changed": draft_changed,
            "buttons": [
                {
                    "action": action,
                    "url": self._url("state", journey.pk, action),
                    "confirm": CONFIRM[action],
                }
                for action in actions
            ]
            if writable
            else [],
            "versions": versions,
            "latest_enrolments": journey_enrolments(journey=journey)[:LATEST_ENROLMENTS],
            "enrolments_url": f"{enrolments_url}?journey__id__exact={journey.pk}",
            "open_tasks": staff_tasks(journey=journey).count(),
            "tasks_url": f"{tasks_url}?journey__id__exact={journey.pk}&status__exact=OPEN",
            "customer_url_name": f"{self.admin_site.name}:profiles_customer_change",
            "enrolment_url_name": f"{self.admin_site.name}:journeys_enrolment_change",
        }

    # -- the page's actions --

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("validate/", wrap(self.validate_view), name="journeys_journey_validate"),
            path("templates/", wrap(self.templates_view), name="journeys_journey_templates"),
            path("<path:object_id>/state/<str:action>/", wrap(self.state_view),
                 name="journeys_journey_state"),
            path("<path:object_id>/migrate/<int:number>/", wrap(self.migrate_view),
                 name="journeys_journey_migrate"),
            *super().get_urls(),
        ]  # fmt: skip

    def _url(self, action: str, *args: Any) -> str:
        return reverse(f"{self.admin_site.name}:journeys_journey_{action}", args=args)

    def _journey(self, request: HttpRequest, object_id: str) -> Journey:
        if not can_write(request):
            raise PermissionDenied
        journey = self.get_object(request, unquote(object_id))
        if journey is None:
            raise Http404("No such journey in this club.")
        return journey

    def validate_view(self, request: HttpRequest) -> HttpResponse:
        """The builder's check as it is edited: `definition_parse`'s errors by path; saves
        nothing."""
        return require_POST(self._validate)(request)

    def _validate(self, request: HttpRequest) -> HttpResponse:
        if not can_write(request):
            return JsonResponse({"errors": {"": ["Your role does not edit journeys."]}}, status=403)
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return JsonResponse({"errors": {"definition": ["Not valid JSON."]}}, status=400)
        if not isinstance(body, dict) or "definition" not in body:
            return JsonResponse({"errors": {"definition": ['Send {"definition": …}.']}}, status=400)
        return JsonResponse({"errors": definition_errors(body["definition"])})

    def state_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        return require_POST(self._state)(request, object_id, action)

    def _state(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        journey = self._journey(request, object_id)
        service = {
            "publish": journey_publish,
            "pause": journey_pause,
            "resume": journey_resume,
            "archive": journey_archive,
        }.get(action)
        if service is None:
            raise Http404("No such action.")
        try:
            result = service(journey=journey, actor_label=_actor(request))
        except JourneyStateError as exc:
            messages.error(request, str(exc))
        except ValidationError as exc:
            if action == "publish":
                messages.error(
                    request,
                    f"Not published: the draft has {len(_messages_of(exc))} problem(s), marked "
                    "in the builder.",
                )
            else:
                messages.error(request, _say(exc))
        else:
            done = {
                "publish": lambda: f"Published as version {result.number}.",
                "pause": lambda: "Paused: nobody enrols and no step runs until you resume.",
                "resume": lambda: "Resumed.",
                "archive": lambda: "Archived: whoever was still inside has left the journey.",
            }[action]()
            messages.success(request, done)
        return HttpResponseRedirect(self._url("change", journey.pk))

    def migrate_view(self, request: HttpRequest, object_id: str, number: int) -> HttpResponse:
        return require_POST(self._migrate)(request, object_id, number)

    def _migrate(self, request: HttpRequest, object_id: str, number: int) -> HttpResponse:
        journey = self._journey(request, object_id)
        version = JourneyVersion.objects.filter(journey=journey, number=number).first()
        if version is None:
            raise Http404("No such version.")
        try:
            moved = journey_migrate(
                journey=journey, from_version=version, actor_label=_actor(request)
            )
        except (JourneyStateError, ValidationError) as exc:
            messages.error(request, str(exc) if isinstance(exc, JourneyStateError) else _say(exc))
        else:
            target = journey.published_version.number if journey.published_version else "?"
            messages.success(
                request,
                f"Moved {moved:,} live enrolment(s) from version {number} to version {target}; "
                "those at a step the new version no longer has stay where they are.",
            )
        return HttpResponseRedirect(self._url("change", journey.pk) + "#versions")

    def templates_view(self, request: HttpRequest) -> HttpResponse:
        """The ready-made journeys; copying one makes a draft (and any segment it needs)."""
        if not can_write(request):
            raise PermissionDenied
        errors: dict[str, str] = {}
        names: dict[str, str] = {}
        if request.method == "POST":
            form = TemplateCopyForm(request.POST)
            if form.is_valid():
                key, name = form.cleaned_data["key"], form.cleaned_data["name"]
                try:
                    journey = journey_template_copy(key=key, name=name, actor_label=_actor(request))
                except ValidationError as exc:
                    errors[key] = _say(exc)
                    names[key] = name
                else:
                    messages.success(
                        request,
                        f"“{journey.name}” is a draft copy of the template: look it over, then "
                        "publish it.",
                    )
                    return HttpResponseRedirect(self._url("change", journey.pk))
            else:
                key = request.POST.get("key", "")
                errors[key] = "Give your copy a name."
        templates = [
            {
                **template,
                "steps": len(template["definition"].get("steps", {})),
                "error": errors.get(template["key"], ""),
                "copy_name": names.get(template["key"], template["name"]),
            }
            for template in journey_templates()
        ]
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": "Start from a ready-made journey",
            "opts": self.opts,
            "templates": templates,
            "add_url": self._url("add"),
        }
        return TemplateResponse(request, "admin/journeys/journey/templates.html", context)


# --- versions ----------------------------------------------------------------------------------


@admin.register(JourneyVersion, site=club_admin_site)
class JourneyVersionAdmin(JourneysReadOnlyAdmin):
    """Published versions: read only (publishing makes them), drawn with their own numbers."""

    change_form_template = "admin/journeys/journeyversion/change_form.html"
    list_display = ("journey", "number", "published_at", "published_by")
    list_filter = ("journey",)
    list_select_related = ("journey",)
    fields = ("journey", "number", "published_at", "published_by")
    readonly_fields = fields

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            stats = journey_stats(journey=obj.journey, version=obj)
            context.update(
                {
                    "version": obj,
                    "stats": stats,
                    "conversion": _percent(stats["conversionRate"]),
                    "journey_url": reverse(
                        f"{self.admin_site.name}:journeys_journey_change", args=[obj.journey_id]
                    ),
                    "builder_config": {
                        "definition": obj.definition,
                        "stats": stats,
                        "errors": {},
                        "readOnly": True,
                        "validateUrl": "",
                        "catalog": {
                            "eventTypes": [],
                            "segments": [
                                {"id": str(pk), "name": name}
                                for pk, name in Segment.objects.values_list("id", "name")
                            ],
                            "dateFields": [
                                {"value": v, "label": label} for v, label in DATE_FIELD_LABELS
                            ],
                        },
                        "rules": {
                            "groups": [{"key": key, "label": label} for key, label in GROUPS],
                            "fields": catalogue_for_builder(),
                            "operatorLabels": OPERATOR_LABELS,
                            "pickers": picker_values(),
                        },
                        "chart": None,
                    },
                    "definition_pretty": json.dumps(obj.definition, indent=2, ensure_ascii=False),
                }
            )
        return super().render_change_form(request, context, add, change, form_url, obj)


# --- enrolments --------------------------------------------------------------------------------


class StepFilter(admin.SimpleListFilter):
    """The steps of the journey filtered on (its published version's, then its draft's)."""

    title = "step"
    parameter_name = "step"

    def lookups(self, request, model_admin):
        journey_id = request.GET.get("journey__id__exact")
        if not journey_id:
            return ()
        try:
            journey = Journey.objects.select_related("published_version").get(pk=journey_id)
        except (Journey.DoesNotExist, ValidationError, ValueError):
            return ()
        keys: list[str] = []
        for definition in (
            journey.published_version.definition if journey.published_version else {},
            journey.definition,
        ):
            for key in (definition or {}).get("steps", {}):
                if key not in keys:
                    keys.append(key)
        return [(key, key) for key in keys]

    def queryset(self, request, queryset):
        return queryset.filter(step=self.value()) if self.value() else queryset


class EnrolmentEventInline(TabularInline):
    """The enrolment's walk, step by step."""

    model = EnrolmentEvent
    fields = ("at", "step", "kind", "branch", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("at", "id")
    verbose_name = "step log entry"
    verbose_name_plural = "the walk so far"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return can_read(request)

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("at", "id")


@admin.register(Enrolment, site=club_admin_site)
class EnrolmentAdmin(JourneysReadOnlyAdmin):
    """Who is (or was) in which journey, where they are and since when; staff can take people
    out ("exit"). Read only otherwise: the engine moves enrolments on."""

    change_form_template = "admin/journeys/enrolment/change_form.html"
    list_display = (
        "customer_link", "journey", "version_number", "step", "status", "entered_at", "due_at",
        "source",
    )  # fmt: skip
    list_filter = ("status", "journey", StepFilter, "source")
    list_select_related = ("customer", "journey", "version")
    search_fields = ("customer__email", "customer__first_name", "customer__last_name")
    search_help_text = "The customer's name or email."
    show_full_result_count = False
    actions = ("exit_selected",)
    inlines = (EnrolmentEventInline,)
    fields = (
        "journey", "version", "customer_link", "status", "step", "due_at", "entered_at",
        "step_entered_at", "finished_at", "exit_reason", "source", "entry_key", "context_pretty",
        "attempts", "last_error",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Customer", ordering="customer__last_name")
    def customer_link(self, obj: Enrolment) -> str:
        try:
            url = reverse(
                f"{self.admin_site.name}:profiles_customer_change", args=[obj.customer_id]
            )
        except NoReverseMatch:
            return str(obj.customer)
        return format_html('<a href="{}">{}</a>', url, str(obj.customer))

    @admin.display(description="Version", ordering="version__number")
    def version_number(self, obj: Enrolment) -> str:
        return f"v{obj.version.number}"

    @admin.display(description="Context")
    def context_pretty(self, obj: Enrolment) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.context, indent=2, ensure_ascii=False))

    def has_exit_permission(self, request) -> bool:
        return can_write(request)

    @admin.action(description="Exit the selected customers from their journey",
                  permissions=["exit"])  # fmt: skip
    def exit_selected(self, request: HttpRequest, queryset: QuerySet[Enrolment]) -> None:
        live = queryset.filter(status__in=LIVE_STATUSES).order_by("entered_at", "id")
        chosen = list(live[: EXIT_LIMIT + 1])
        if len(chosen) > EXIT_LIMIT:
            messages.error(
                request,
                f"More than {EXIT_LIMIT:,} live enrolments selected: narrow the list down (or "
                "archive the journey, which takes everyone out).",
            )
            return
        exited = 0
        for enrolment in chosen:
            try:
                enrolment_exit(enrolment=enrolment, reason=EXIT_REASON, actor_label=_actor(request))
            except (JourneyStateError, ValidationError):
                continue  # finished meanwhile (the engine moved it on): nothing to take out
            exited += 1
        skipped = queryset.count() - exited
        text = f"{exited:,} customer(s) taken out of their journey."
        if skipped:
            text += f" {skipped:,} had already finished."
        messages.success(request, text)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(
                {
                    "enrolment": obj,
                    "can_exit": can_write(request) and obj.status in LIVE_STATUSES,
                    "exit_url": reverse(
                        f"{self.admin_site.name}:journeys_enrolment_exit", args=[obj.pk]
                    ),
                    "events_count": enrolment_events(enrolment=obj).count(),
                }
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/exit/", wrap(self.exit_view), name="journeys_enrolment_exit"),
            *super().get_urls(),
        ]

    def exit_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._exit)(request, object_id)

    def _exit(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not can_write(request):
            raise PermissionDenied
        enrolment = self.get_object(request, unquote(object_id))
        if enrolment is None:
            raise Http404("No such enrolment in this club.")
        reason = (request.POST.get("reason") or "").strip()[:200] or EXIT_REASON
        try:
            enrolment_exit(enrolment=enrolment, reason=reason, actor_label=_actor(request))
        except JourneyStateError as exc:
            messages.error(request, str(exc))
        except ValidationError as exc:
            messages.error(request, _say(exc))
        else:
            messages.success(request, f"{enrolment.customer} has left “{enrolment.journey}”.")
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:journeys_enrolment_change", args=[enrolment.pk])
        )


# --- staff tasks -------------------------------------------------------------------------------


class AssignedFilter(admin.SimpleListFilter):
    """Who a task is for; "me" is any of my roles or my own email."""

    title = "for"
    parameter_name = "for"

    def lookups(self, request, model_admin):
        return (
            ("me", "Me (my roles or my email)"),
            *((role, f"Anyone with the {role} role") for role in STAFF_ROLES),
        )

    def queryset(self, request, queryset):
        value = self.value()
        if value == "me":
            user = request.user
            roles = (
                list(STAFF_ROLES)
                if user.is_superuser
                else [
                    g for g in user.groups.values_list("name", flat=True) if g in Role.__members__
                ]
            )
            return queryset.filter(Q(assigned_to__in=roles) | Q(assigned_to__iexact=user.email))
        if value in STAFF_ROLES:
            return queryset.filter(assigned_to=value)
        return queryset


@admin.register(StaffTask, site=club_admin_site)
class StaffTaskAdmin(JourneysReadOnlyAdmin):
    """What `notify` steps ask of staff ("call this member"): open tasks first, newest first;
    marked done or dismissed through `staff_task_complete`."""

    change_form_template = "admin/journeys/stafftask/change_form.html"
    list_display = (
        "title", "customer_link", "journey", "assigned_to", "status", "created_at", "done",
    )  # fmt: skip
    list_filter = ("status", AssignedFilter, "journey")
    list_select_related = ("customer", "journey")
    search_fields = ("title", "customer__email", "customer__first_name", "customer__last_name")
    actions = ("mark_done", "dismiss")
    fields = (
        "title", "body", "customer_link", "contact", "journey", "step", "assigned_to", "status",
        "created_at", "done_at", "done_by",
    )  # fmt: skip
    readonly_fields = fields

    def get_ordering(self, request):
        # Open tasks first (the model's alphabetical status order would put them last).
        open_first = Case(
            When(status=StaffTaskStatus.OPEN, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        )
        return (open_first.asc(), "-created_at")

    @admin.display(description="Customer", ordering="customer__last_name")
    def customer_link(self, obj: StaffTask) -> str:
        try:
            url = reverse(
                f"{self.admin_site.name}:profiles_customer_change", args=[obj.customer_id]
            )
        except NoReverseMatch:
            return str(obj.customer)
        return format_html('<a href="{}">{}</a>', url, str(obj.customer))

    @admin.display(description="How to reach them")
    def contact(self, obj: StaffTask) -> str:
        customer = obj.customer
        parts = [p for p in (customer.phone_number, customer.email) if p]
        return " · ".join(parts) or "—"

    @admin.display(description="Closed")
    def done(self, obj: StaffTask) -> str:
        if obj.status == StaffTaskStatus.OPEN:
            return "—"
        return f"{obj.get_status_display()} by {obj.done_by or '?'}"

    def has_close_permission(self, request) -> bool:
        return can_close_tasks(request)

    def _close(self, request: HttpRequest, tasks: list[StaffTask], *, dismiss: bool) -> int:
        closed = 0
        for task in tasks:
            try:
                staff_task_complete(task=task, actor_label=_actor(request), dismiss=dismiss)
            except (JourneyStateError, ValidationError):
                continue  # closed meanwhile by someone else
            closed += 1
        return closed

    def _close_selected(self, request, queryset, *, dismiss: bool) -> None:
        tasks = list(queryset.filter(status=StaffTaskStatus.OPEN)[:EXIT_LIMIT])
        closed = self._close(request, tasks, dismiss=dismiss)
        verb = "dismissed" if dismiss else "marked done"
        messages.success(request, f"{closed:,} task(s) {verb}.")

    @admin.action(description="Mark the selected tasks done", permissions=["close"])
    def mark_done(self, request: HttpRequest, queryset: QuerySet[StaffTask]) -> None:
        self._close_selected(request, queryset, dismiss=False)

    @admin.action(description="Dismiss the selected tasks", permissions=["close"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet[StaffTask]) -> None:
        self._close_selected(request, queryset, dismiss=True)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(
                {
                    "task": obj,
                    "can_close": can_close_tasks(request) and obj.status == StaffTaskStatus.OPEN,
                    "close_url": reverse(
                        f"{self.admin_site.name}:journeys_stafftask_close", args=[obj.pk]
                    ),
                }
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/close/", wrap(self.close_view),
                 name="journeys_stafftask_close"),
            *super().get_urls(),
        ]  # fmt: skip

    def close_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._close_one)(request, object_id)

    def _close_one(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not can_close_tasks(request):
            raise PermissionDenied
        task = self.get_object(request, unquote(object_id))
        if task is None:
            raise Http404("No such task in this club.")
        dismiss = request.POST.get("outcome") == "dismiss"
        if self._close(request, [task], dismiss=dismiss):
            messages.success(request, f"“{task.title}”: {'dismissed' if dismiss else 'done'}.")
        else:
            messages.warning(request, f"“{task.title}” was already closed.")
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:journeys_stafftask_changelist")
        )


# --- the after-the-round survey (journeys.surveys) -------------------------------------------


@admin.register(FeedbackSettings, site=club_admin_site)
class FeedbackSettingsAdmin(SettingsAdmin):
    """Where promoters are asked to leave a review, and who calls a detractor (one row)."""

    list_display = ("__str__", "review_url", "detractor_task_assigned_to")
    read_scope = Scope.READ
    edit_scope = Scope.CAMPAIGNS  # as the journeys themselves (can_write)
    audit_action = "feedback.settings"
    audit_object_type = "feedback_settings"


@admin.register(RoundSurveyAnswer, site=club_admin_site)
class RoundSurveyAnswerAdmin(JourneysReadOnlyAdmin):
    """The golfers' answers, newest first (read-only: they are what the golfers said)."""

    list_display = ("answered_at", "customer", "score", "band", "comment", "staff_task")
    list_filter = ("band",)
    search_fields = ("booking_id", "comment")
    list_select_related = ("customer", "staff_task")
