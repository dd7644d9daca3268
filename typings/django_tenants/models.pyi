from typing import Any, ClassVar

from django.db import models

class TenantMixin(models.Model):
    auto_drop_schema: ClassVar[bool]
    auto_create_schema: ClassVar[bool]
    clone_mode: ClassVar[str]
    schema_name = models.CharField(max_length=63, unique=True, db_index=True)
    domain_url: str | None
    domain_subfolder: str | None

    class Meta:
        abstract = True

    def __enter__(self) -> TenantMixin: ...
    def __exit__(self, *exc: object) -> None: ...
    def activate(self) -> None: ...
    @classmethod
    def deactivate(cls) -> None: ...
    def create_schema(
        self, check_if_exists: bool = False, sync_schema: bool = True, verbosity: int = 1
    ) -> bool: ...
    def get_primary_domain(self) -> DomainMixin | None: ...
    def get_tenant_type(self) -> str: ...
    def delete(  # type: ignore[override]  # django-tenants' own signature
        self, force_drop: bool = False, *args: Any, **kwargs: Any
    ) -> tuple[int, dict[str, int]]: ...

class DomainMixin(models.Model):
    domain = models.CharField(max_length=253, unique=True, db_index=True)
    tenant: Any
    is_primary = models.BooleanField(default=True, db_index=True)

    class Meta:
        abstract = True
