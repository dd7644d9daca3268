from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm

from crm.accounts.models import ApiKey, AuditEntry, User
from crm.accounts.scopes import ALL_SCOPES
from crm.accounts.services import api_key_create, api_key_revoke
from crm.admin_base import ReadOnlyAdmin
from crm.admin_sites import club_admin_site, platform_admin_site

if TYPE_CHECKING:  # Django's classes are generic in its stubs only
    _UserAdmin = UserAdmin[User]
    _ApiKeyModelForm = forms.ModelForm[ApiKey]
else:
    _UserAdmin = UserAdmin
    _ApiKeyModelForm = forms.ModelForm


def _staff(request: HttpRequest) -> User:
    """The signed-in staff user (the admin lets no one else in)."""
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


class StaffUserAdmin(_UserAdmin, ModelAdmin):
    change_password_form = AdminPasswordChangeForm
    ordering = ("email",)
    list_display = ("email", "first_name", "last_name", "is_active", "is_staff", "role_names")
    search_fields = ("email", "first_name", "last_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Name", {"fields": ("first_name", "last_name")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "password1", "password2", "groups")}),
    )
    filter_horizontal = ("groups",)

    @admin.display(description="Roles")
    def role_names(self, obj: User) -> str:
        return ", ".join(group.name for group in obj.groups.all())

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")

    def save_model(
        self, request: HttpRequest, obj: User, form: forms.ModelForm[User], change: bool
    ) -> None:
        obj.is_staff = True if not change else obj.is_staff
        super().save_model(request, obj, form, change)


class ApiKeyAddForm(_ApiKeyModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in sorted(ALL_SCOPES)],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = ApiKey
        fields = ("name", "scopes")


@admin.register(ApiKey, site=club_admin_site)
class ApiKeyAdmin(ModelAdmin):
    list_display = ("name", "prefix", "scope_list", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix")
    actions = ("revoke_keys",)

    def get_form(
        self, request: HttpRequest, obj: ApiKey | None = None, **kwargs: Any
    ) -> type[forms.ModelForm[ApiKey]]:
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        form: type[forms.ModelForm[ApiKey]] = super().get_form(request, obj, **kwargs)
        return form

    def get_readonly_fields(
        self, request: HttpRequest, obj: ApiKey | None = None
    ) -> tuple[str, ...]:
        if obj is None:
            return ()
        return (
            "name",
            "prefix",
            "scopes",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
        )

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("name", "scopes")
        return self.get_readonly_fields(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoke instead: the audit trail keeps pointing at the key

    @admin.display(description="Scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    def save_model(
        self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm[ApiKey], change: bool
    ) -> None:
        if change:
            return  # keys are immutable; revoke and create a new one
        key, raw_key = api_key_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=_staff(request),
        )
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding = False
        messages.warning(
            request,
            f"The new key is {raw_key} — copy it now: it is stored only as a hash and will not "
            "be shown again.",
        )

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            api_key_revoke(api_key=key, revoked_by=_staff(request))
        messages.success(request, f"Revoked {queryset.count()} key(s).")


def _words(code: str) -> str:
    """An audit code as words: `social_post.approval_requested` -> "Social post: approval
    requested". The codes are the apps' own and many; a generic reading keeps every one
    readable without a table that a new action would fall out of."""
    text = code.replace("_", " ").replace(".", ": ").strip()
    return text[:1].upper() + text[1:]


class _InWordsFilter(admin.SimpleListFilter):
    """A filter over one of the audit row's code columns, its choices shown in words."""

    field = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        codes = AuditEntry.objects.values_list(self.field, flat=True).distinct()
        return [(code, _words(code)) for code in sorted(set(codes)) if code]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset


class _ActionFilter(_InWordsFilter):
    title = "what"
    parameter_name = field = "action"


class _ObjectTypeFilter(_InWordsFilter):
    title = "about"
    parameter_name = field = "object_type"


# Labels that services write for who acted when nobody signed in did it.
_SYSTEM_LABELS = {"cli": "Command line", "system": "System", "": "System"}


@admin.register(AuditEntry, site=club_admin_site)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "what", "who", "about", "object_id")
    list_filter = (_ActionFilter, _ObjectTypeFilter)
    search_fields = ("actor_label", "object_id", "actor_user__email", "actor_api_key__name")
    list_select_related = ("actor_user", "actor_api_key")

    @admin.display(description="Who", ordering="actor_label")
    def who(self, entry: AuditEntry) -> str:
        """The person or integration by name (the rows name them by foreign key), with what
        the service said it was doing when that differs ("demo data", an event)."""
        if entry.actor_user is not None:
            name = entry.actor_user.email
        elif entry.actor_api_key is not None:
            name = f"API key “{entry.actor_api_key.name}”"
        else:
            return _SYSTEM_LABELS.get(entry.actor_label, entry.actor_label)
        label = entry.actor_label
        if not label or label == name or label.startswith("api-key:"):
            return name
        return f"{name} ({label})"

    @admin.display(description="What", ordering="action")
    def what(self, entry: AuditEntry) -> str:
        return _words(entry.action)

    @admin.display(description="About", ordering="object_type")
    def about(self, entry: AuditEntry) -> str:
        return _words(entry.object_type)

    readonly_fields = (
        "created_at", "action", "actor_user", "actor_api_key", "actor_label", "object_type",
        "object_id", "details",
    )  # fmt: skip


club_admin_site.register(User, StaffUserAdmin)


class RoleAdmin(GroupAdmin, ModelAdmin):
    pass


club_admin_site.register(Group, RoleAdmin)
platform_admin_site.register(User, StaffUserAdmin)
