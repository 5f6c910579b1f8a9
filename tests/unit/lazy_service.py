"""Services registered by name in the registry tests (imported only when built)."""

from __future__ import annotations

from nexus.services import Service, inject


class LazyDependency:
    pass


class LazyService(Service):
    def __init__(self, dependency: LazyDependency = inject()) -> None:
        super().__init__()
        self.dependency = dependency
