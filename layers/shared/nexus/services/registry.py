"""A small dependency-injection registry with explicit dependencies.

Why not ``svcs`` or Powertools' ``Depends``: both resolve lazily at first use, so a
missing dependency or a cycle would surface mid-request. Lambda wants the opposite:
validate the whole graph and build the singletons during the init phase, where the
work is paid once per execution environment and failures are loud.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from nexus.services.service import Service, ServiceNotInitializedError

__all__ = [
    "DependencyCycleError",
    "MissingDependencyError",
    "Registry",
    "ServiceNotInitializedError",
    "get_service",
    "inject",
    "register_service",
    "registry",
]


class RegistryError(RuntimeError):
    """The service graph cannot be built."""


class MissingDependencyError(RegistryError):
    pass


class DependencyCycleError(RegistryError):
    pass


class _InjectMarker:
    def __repr__(self) -> str:
        return "inject()"


_INJECT = _InjectMarker()


def inject() -> Any:
    """Default value marking a constructor parameter as a dependency, resolved by its type.

    ``def __init__(self, cache: CacheService = inject())``
    """
    return _INJECT


@dataclass(frozen=True)
class _Registration:
    factory: Callable[..., Any]
    # (keyword name or None for positional, dependency type)
    dependencies: tuple[tuple[str | None, type], ...]


def _injected_parameters(factory: Callable[..., Any]) -> tuple[tuple[str | None, type], ...]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    hints = typing.get_type_hints(target)
    found: list[tuple[str | None, type]] = []
    for name, parameter in inspect.signature(factory).parameters.items():
        if parameter.default is _INJECT:
            if name not in hints:
                raise RegistryError(f"{_name(factory)}: parameter {name!r} uses inject() without a type annotation")
            found.append((name, hints[name]))
    return tuple(found)


def _name(obj: object) -> str:
    return getattr(obj, "__name__", None) or repr(obj)


class Registry:
    """Holds registrations and the singletons built from them."""

    def __init__(self) -> None:
        self._registrations: dict[type, _Registration] = {}
        self._instances: dict[type, Any] = {}
        self._build_order: list[type] = []

    def register[T](
        self,
        service_type: type[T],
        factory: Callable[..., T] | None = None,
        *,
        dependencies: Sequence[type] | None = None,
    ) -> None:
        """Register how to build ``service_type``.

        Without ``dependencies`` they are read from the factory's ``inject()``
        parameters (and passed by keyword); with them, the built dependencies are
        passed positionally in that order.
        """
        build = factory if factory is not None else service_type
        deps = _injected_parameters(build) if dependencies is None else tuple((None, d) for d in dependencies)
        if service_type in self._instances:
            raise RegistryError(f"{_name(service_type)} is already built; register before start()")
        self._registrations[service_type] = _Registration(build, deps)

    def __contains__(self, service_type: object) -> bool:
        return service_type in self._registrations

    def register_instance[T](self, service_type: type[T], instance: T) -> None:
        self.register(service_type, lambda: instance, dependencies=())

    def resolution_order(self, roots: Sequence[type] | None = None) -> list[type]:
        """Dependency order (dependencies first) of ``roots`` or of everything.

        Raises ``MissingDependencyError`` or ``DependencyCycleError`` naming the types.
        """
        order: list[type] = []
        done: set[type] = set()
        path: list[type] = []

        def visit(service_type: type, needed_by: type | None) -> None:
            if service_type in done:
                return
            if service_type in path:
                cycle = [*path[path.index(service_type) :], service_type]
                raise DependencyCycleError("dependency cycle: " + " -> ".join(_name(t) for t in cycle))
            registration = self._registrations.get(service_type)
            if registration is None:
                who = f"{_name(needed_by)} depends on " if needed_by else ""
                raise MissingDependencyError(f"{who}{_name(service_type)}, which is not registered")
            path.append(service_type)
            for _, dependency in registration.dependencies:
                visit(dependency, service_type)
            path.pop()
            done.add(service_type)
            order.append(service_type)

        for root in roots if roots is not None else list(self._registrations):
            visit(root, None)
        return order

    def start(self, *roots: type) -> None:
        """Validate the whole graph, then build and initialize ``roots`` (default: all)."""
        self.resolution_order()
        for service_type in self.resolution_order(list(roots) if roots else None):
            if service_type in self._instances:
                continue
            registration = self._registrations[service_type]
            args = [self._instances[dep] for name, dep in registration.dependencies if name is None]
            kwargs = {name: self._instances[dep] for name, dep in registration.dependencies if name is not None}
            instance = registration.factory(*args, **kwargs)
            if isinstance(instance, Service):
                instance.initialize()
            self._instances[service_type] = instance
            self._build_order.append(service_type)

    def get[T](self, service_type: type[T]) -> T:
        try:
            return cast(T, self._instances[service_type])
        except KeyError:
            if service_type in self._registrations:
                raise ServiceNotInitializedError(_name(service_type)) from None
            raise MissingDependencyError(f"{_name(service_type)} is not registered") from None

    @contextmanager
    def invocation(self, context: object = None) -> Iterator[None]:
        """The per-invocation scope: ``begin_invocation(context)`` on entry, ``end_invocation`` on exit."""
        for service_type in self._build_order:
            instance = self._instances[service_type]
            if isinstance(instance, Service) and instance.is_initialized:
                instance.begin_invocation(context)
        try:
            yield
        finally:
            for service_type in reversed(self._build_order):
                instance = self._instances[service_type]
                if isinstance(instance, Service) and instance.is_initialized:
                    instance.end_invocation()

    def cleanup(self) -> None:
        """Clean up every built service, dependents first, and forget the instances."""
        for service_type in reversed(self._build_order):
            instance = self._instances.pop(service_type)
            if isinstance(instance, Service):
                instance.cleanup()
        self._build_order.clear()

    def reset(self) -> None:
        """Clean up and forget every registration (tests; a fresh environment)."""
        self.cleanup()
        self._registrations.clear()


registry = Registry()


def register_service[T](
    service_type: type[T],
    factory: Callable[..., T] | None = None,
    *,
    dependencies: Sequence[type] | None = None,
) -> None:
    """Register on the process-wide registry (see ``Registry.register``)."""
    registry.register(service_type, factory, dependencies=dependencies)


def get_service[T](service_type: type[T]) -> T:
    """Get a built singleton from the process-wide registry."""
    return registry.get(service_type)
