"""A small dependency-injection registry with explicit dependencies.

Why not ``svcs`` or Powertools' ``Depends``: both resolve lazily at first use, so a
missing dependency or a cycle would surface mid-request. Lambda wants the opposite:
validate the whole graph and build the singletons during the init phase, where the
work is paid once per execution environment and failures are loud.
"""

from __future__ import annotations

import importlib
import inspect
import types
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
    "ServiceRef",
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


Key = str  # "package.module:QualifiedName" of the service type


@dataclass(frozen=True)
class ServiceRef[T]:
    """A service type named by where it is defined, without importing it.

    The composition root writes ``USERS: ServiceRef[UserService] = ServiceRef("nexus.users.service:UserService")``
    with ``UserService`` imported under ``TYPE_CHECKING``: the type checker, an IDE and a
    call-graph tool follow the annotation to the class, while a cold start imports the
    module only when the registry builds the service. The path must name the class where it
    is defined (its ``__module__``), which the registry checks when it loads it, and
    ``tests/unit/test_container.py`` checks that each path and its annotation agree.
    """

    path: str

    def load(self) -> type[T]:
        module_name, _, qualname = self.path.partition(":")
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
        if not isinstance(target, type) or key_of(target) != self.path:
            where = key_of(target) if isinstance(target, type) else "not a class"
            raise RegistryError(f"ServiceRef({self.path!r}) must name the class where it is defined ({where})")
        return target


type ServiceKey[T] = type[T] | ServiceRef[T]


def key_of(service_type: type | ServiceRef[Any]) -> Key:
    """The registry key of a type or of a reference naming one."""
    if isinstance(service_type, ServiceRef):
        return service_type.path
    return f"{service_type.__module__}:{service_type.__qualname__}"


def _short(key: Key) -> str:
    return key.rsplit(":", 1)[-1].rsplit(".", 1)[-1]


@dataclass
class _Registration:
    target: type | ServiceRef[Any]
    factory: Callable[..., Any] | None
    explicit: tuple[Key, ...] | None
    # Its factory may build None: the configuration has no such service (the user cache on DynamoDB).
    optional: bool = False
    # (keyword name or None for positional, dependency key), known once resolved
    dependencies: tuple[tuple[str | None, Key], ...] | None = None
    # the keyword parameters annotated ``X | None``: they accept an optional service
    accepts_none: frozenset[str] = frozenset()

    def build(self) -> Callable[..., Any]:
        if self.factory is not None:
            return self.factory
        return self.target if isinstance(self.target, type) else self.target.load()

    def resolve_dependencies(self) -> tuple[tuple[str | None, Key], ...]:
        if self.dependencies is None:
            if self.explicit is not None:
                self.dependencies = tuple((None, dependency) for dependency in self.explicit)
            else:
                self.dependencies, self.accepts_none = _injected_parameters(self.build())
        return self.dependencies


def _injected_parameters(factory: Callable[..., Any]) -> tuple[tuple[tuple[str | None, Key], ...], frozenset[str]]:
    """The ``inject()`` parameters (name, key), and the names of those annotated ``X | None``."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    hints = typing.get_type_hints(target)
    found: list[tuple[str | None, Key]] = []
    accepts_none: set[str] = set()
    for name, parameter in inspect.signature(factory).parameters.items():
        if parameter.default is _INJECT:
            if name not in hints:
                raise RegistryError(f"{_name(factory)}: parameter {name!r} uses inject() without a type annotation")
            hint = hints[name]
            arguments = typing.get_args(hint)
            if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
                services = [argument for argument in arguments if argument is not type(None)]
                if len(services) != 1 or len(arguments) != 2:
                    raise RegistryError(f"{_name(factory)}: parameter {name!r} must be one service type, or it | None")
                hint = services[0]
                accepts_none.add(name)
            found.append((name, key_of(hint)))
    return tuple(found), frozenset(accepts_none)


def _explicit(dependencies: Sequence[ServiceKey[Any]] | None) -> tuple[Key, ...] | None:
    return tuple(key_of(d) for d in dependencies) if dependencies is not None else None


def _name(obj: object) -> str:
    return getattr(obj, "__name__", None) or repr(obj)


class Registry:
    """Holds registrations and the singletons built from them.

    Types may be registered by a ``ServiceRef``, so that registering every service
    imports none of them: a function's cold start imports only the modules its roots need.
    Every ``Service`` it builds is initialized before anything can get it.
    """

    def __init__(self) -> None:
        self._registrations: dict[Key, _Registration] = {}
        self._instances: dict[Key, Any] = {}
        self._build_order: list[Key] = []

    def register[T](
        self,
        service_type: ServiceKey[T],
        factory: Callable[..., T] | None = None,
        *,
        dependencies: Sequence[ServiceKey[Any]] | None = None,
    ) -> None:
        """Register how to build ``service_type`` (a class, or a ``ServiceRef`` to one).

        Without ``dependencies`` they are read from the factory's (or the class's)
        ``inject()`` parameters and passed by keyword; with them, the built
        dependencies are passed positionally in that order.
        """
        self._add(_Registration(service_type, factory, _explicit(dependencies)))

    def register_optional[T](
        self,
        service_type: ServiceKey[T],
        factory: Callable[..., T | None],
        *,
        dependencies: Sequence[ServiceKey[Any]],
    ) -> None:
        """Register a service the configuration may go without: ``factory`` builds it or None.

        Only parameters annotated ``service_type | None`` may depend on it (checked with the graph).
        """
        self._add(_Registration(service_type, factory, _explicit(dependencies), optional=True))

    def _add(self, registration: _Registration) -> None:
        key = key_of(registration.target)
        if key in self._instances:
            raise RegistryError(f"{_short(key)} is already built; register before start()")
        if registration.explicit is None and isinstance(registration.target, type):
            registration.resolve_dependencies()  # the class is at hand: check its inject() now
        self._registrations[key] = registration

    def __contains__(self, service_type: object) -> bool:
        return isinstance(service_type, type | ServiceRef) and key_of(service_type) in self._registrations

    def resolution_order(self, roots: Sequence[ServiceKey[Any]] | None = None) -> list[Key]:
        """Dependency order (dependencies first) of ``roots``, or of everything.

        Raises ``MissingDependencyError`` or ``DependencyCycleError`` naming the types.
        """
        order: list[Key] = []
        done: set[Key] = set()
        path: list[Key] = []

        def visit(key: Key, needed_by: Key | None) -> None:
            if key in done:
                return
            if key in path:
                cycle = [*path[path.index(key) :], key]
                raise DependencyCycleError("dependency cycle: " + " -> ".join(_short(k) for k in cycle))
            registration = self._registrations.get(key)
            if registration is None:
                who = f"{_short(needed_by)} depends on " if needed_by else ""
                raise MissingDependencyError(f"{who}{_short(key)}, which is not registered")
            path.append(key)
            for name, dependency in registration.resolve_dependencies():
                visit(dependency, key)
                if self._registrations[dependency].optional and name not in registration.accepts_none:
                    raise RegistryError(
                        f"{_short(key)}: {_short(dependency)} may not be configured: "
                        f"annotate {name or 'the parameter'!s} as {_short(dependency)} | None"
                    )
            path.pop()
            done.add(key)
            order.append(key)

        for root in [key_of(r) for r in roots] if roots is not None else list(self._registrations):
            visit(root, None)
        return order

    def validate(self) -> None:
        """Check the whole graph (importing every service): a test runs this for every deploy."""
        self.resolution_order()

    def start(self, *roots: ServiceKey[Any]) -> None:
        """Build and initialize ``roots`` (default: all) and their dependencies, in order.

        The roots' part of the graph is checked first: a missing dependency or a cycle
        fails here, at cold start, naming the types.
        """
        for key in self.resolution_order(list(roots) if roots else None):
            if key in self._instances:
                continue
            registration = self._registrations[key]
            dependencies = registration.resolve_dependencies()
            args = [self._instances[dep] for name, dep in dependencies if name is None]
            kwargs = {name: self._instances[dep] for name, dep in dependencies if name is not None}
            instance = registration.build()(*args, **kwargs)
            if isinstance(instance, Service):
                instance.initialize()
            self._instances[key] = instance
            self._build_order.append(key)

    def get[T](self, service_type: ServiceKey[T]) -> T:
        key = key_of(service_type)
        try:
            return cast(T, self._instances[key])
        except KeyError:
            if key in self._registrations:
                raise ServiceNotInitializedError(_short(key)) from None
            raise MissingDependencyError(f"{_short(key)} is not registered") from None

    def built(self) -> tuple[Key, ...]:
        """The keys of the services built so far, dependencies first."""
        return tuple(self._build_order)

    @contextmanager
    def invocation(self, context: object = None) -> Iterator[None]:
        """The per-invocation scope: ``begin_invocation(context)`` on entry, ``end_invocation`` on exit."""
        for key in self._build_order:
            instance = self._instances[key]
            if isinstance(instance, Service) and instance.is_initialized:
                instance.begin_invocation(context)
        try:
            yield
        finally:
            for key in reversed(self._build_order):
                instance = self._instances[key]
                if isinstance(instance, Service) and instance.is_initialized:
                    instance.end_invocation()

    def cleanup(self) -> None:
        """Clean up every built service, dependents first, and forget the instances."""
        for key in reversed(self._build_order):
            instance = self._instances.pop(key)
            if isinstance(instance, Service):
                instance.cleanup()
        self._build_order.clear()

    def reset(self) -> None:
        """Clean up and forget every registration (tests; a fresh environment)."""
        self.cleanup()
        self._registrations.clear()


registry = Registry()


def register_service[T](
    service_type: ServiceKey[T],
    factory: Callable[..., T] | None = None,
    *,
    dependencies: Sequence[ServiceKey[Any]] | None = None,
) -> None:
    """Register on the process-wide registry (see ``Registry.register``)."""
    registry.register(service_type, factory, dependencies=dependencies)


def get_service[T](service_type: ServiceKey[T]) -> T:
    """Get a built singleton from the process-wide registry."""
    return registry.get(service_type)
