from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm

from crm.accounts.models import ApiKey, AuditEntry, User
from crm.accounts.scopes import ALL_SCOPES
from crm.accounts.services import api_key_create, api_key_revoke
from crm.admin_base import ReadOnlyAdmin
from crm.admin_sites import club_admin_site, platform_admin_site


class StaffUserAdmin(UserAdmin, ModelAdmin):
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

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    def save_model(self, request, obj, form, change) -> None:
        obj.is_staff = True if not change else obj.is_staff
        super().save_model(request, obj, form, change)


class ApiKeyAddForm(forms.ModelForm):
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

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
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

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "scopes")
        return self.get_readonly_fields(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the audit trail keeps pointing at the key

    @admin.display(description="Scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    def save_model(self, request, obj: ApiKey, form, change: bool) -> None:
        if change:
            return  # keys are immutable; revoke and create a new one
        key, raw_key = api_key_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=request.user,
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
    def revoke_keys(self, request, queryset) -> None:
        for key in queryset:
            api_key_revoke(api_key=key, revoked_by=request.user)
        messages.success(request, f"Revoked {queryset.count()} key(s).")


@admin.register(AuditEntry, site=club_admin_site)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "actor_label", "object_type", "object_id")
    list_filter = ("action", "object_type")
    search_fields = ("actor_label", "object_id")
    readonly_fields = (
        "created_at", "action", "actor_user", "actor_api_key", "actor_label", "object_type",
        "object_id", "details",
    )  # fmt: skip


club_admin_site.register(User, StaffUserAdmin)


class RoleAdmin(GroupAdmin, ModelAdmin):
    pass


club_admin_site.register(Group, RoleAdmin)
platform_admin_site.register(User, StaffUserAdmin)
