from __future__ import annotations

import sys
import typing

import pytest

from nexus.services import (
    DependencyCycleError,
    MissingDependencyError,
    Registry,
    Service,
    ServiceNotInitializedError,
    ServiceRef,
    inject,
)
from nexus.services.registry import RegistryError, key_of


class Clock:
    pass


class Store(Service):
    built = 0

    def __init__(self, clock: Clock = inject()) -> None:
        super().__init__()
        Store.built += 1
        self.clock = clock
        self.setups = 0
        self.teardowns = 0
        self.invocations_ended = 0

    def _setup(self) -> None:
        self.setups += 1

    def _teardown(self) -> None:
        self.teardowns += 1

    def end_invocation(self) -> None:
        self.invocations_ended += 1

    def read(self) -> str:
        return "value"

    @property
    def size(self) -> int:
        return 1


class Api(Service):
    def __init__(self, store: Store = inject()) -> None:
        super().__init__()
        self.store = store


@pytest.fixture
def registry() -> Registry:
    Store.built = 0
    registry = Registry()
    registry.register(Clock, dependencies=())
    registry.register(Store)
    registry.register(Api)
    return registry


def test_injects_dependencies_by_annotation_and_initializes(registry: Registry) -> None:
    registry.start(Api)

    api = registry.get(Api)
    assert api.store is registry.get(Store)
    assert api.store.clock is registry.get(Clock)
    assert api.is_initialized
    assert api.store.setups == 1


def test_singletons_are_built_once_and_reused(registry: Registry) -> None:
    registry.start(Api)
    registry.start(Api)
    registry.start()

    assert Store.built == 1
    assert registry.get(Store) is registry.get(Api).store


def test_start_with_roots_builds_only_what_they_need(registry: Registry) -> None:
    registry.start(Store)

    assert registry.get(Store).read() == "value"
    with pytest.raises(ServiceNotInitializedError, match="Api"):
        registry.get(Api)


def test_resolution_order_puts_dependencies_first(registry: Registry) -> None:
    assert registry.resolution_order() == [key_of(Clock), key_of(Store), key_of(Api)]


def test_explicit_dependencies_are_passed_positionally() -> None:
    registry = Registry()
    registry.register(Clock, dependencies=())
    registry.register(Store, lambda clock: Store(clock), dependencies=[Clock])

    registry.start()

    assert isinstance(registry.get(Store).clock, Clock)


def test_a_missing_dependency_is_named_at_start() -> None:
    registry = Registry()
    registry.register(Store)

    with pytest.raises(MissingDependencyError, match="Store depends on Clock, which is not registered"):
        registry.start()


def test_start_checks_the_roots_part_and_validate_the_whole_graph(registry: Registry) -> None:
    class Orphan(Service):
        def __init__(self, api: Api = inject(), ghost: float = inject()) -> None:
            super().__init__()

    registry.register(Orphan)

    registry.start(Store)  # a function that never builds Orphan still starts
    with pytest.raises(MissingDependencyError, match="Orphan depends on float"):
        registry.start(Orphan)
    with pytest.raises(MissingDependencyError, match="Orphan depends on float"):
        registry.validate()


def test_types_registered_by_reference_are_imported_only_when_built() -> None:
    registry = Registry()
    lazy_service = ServiceRef("tests.unit.lazy_service:LazyService")
    registry.register(lazy_service)
    registry.register(ServiceRef("tests.unit.lazy_service:LazyDependency"), dependencies=())

    assert "tests.unit.lazy_service" not in sys.modules
    registry.start(lazy_service)

    from tests.unit.lazy_service import LazyDependency, LazyService

    assert isinstance(registry.get(LazyService).dependency, LazyDependency)
    assert registry.get(lazy_service) is registry.get(LazyService)


def test_a_reference_that_does_not_import_fails_at_start() -> None:
    registry = Registry()
    registry.register(ServiceRef("tests.unit.lazy_service:Missing"))

    with pytest.raises(AttributeError, match="Missing"):
        registry.start()


def test_a_reference_must_name_the_class_where_it_is_defined() -> None:
    # Dependencies are found by the annotated class's own module: a re-export would never match.
    registry = Registry()
    registry.register(ServiceRef("nexus.services:Registry"), dependencies=())

    with pytest.raises(RegistryError, match=r"nexus.services:Registry.*nexus.services.registry:Registry"):
        registry.start()


def test_a_cycle_is_named_at_start() -> None:
    class First(Service):
        def __init__(self, second: Second = inject()) -> None:
            super().__init__()

    class Second(Service):
        def __init__(self, first: First = inject()) -> None:
            super().__init__()

    registry = Registry()
    registry.register(First, dependencies=[Second])
    registry.register(Second, dependencies=[First])

    with pytest.raises(DependencyCycleError, match="First -> Second -> First"):
        registry.start()


def test_get_of_an_unregistered_type_names_it() -> None:
    with pytest.raises(MissingDependencyError, match="Clock is not registered"):
        Registry().get(Clock)


def test_invocation_scope_ends_every_invocation_even_on_error(registry: Registry) -> None:
    registry.start()
    store = registry.get(Store)

    with registry.invocation():
        pass
    with pytest.raises(RuntimeError), registry.invocation():
        raise RuntimeError("handler failed")

    assert store.invocations_ended == 2


def test_cleanup_runs_once_and_forgets_instances(registry: Registry) -> None:
    registry.start()
    store = registry.get(Store)

    registry.cleanup()
    registry.cleanup()

    assert store.teardowns == 1
    assert not store.is_initialized
    with pytest.raises(ServiceNotInitializedError):
        registry.get(Store)


def test_lifecycle_is_idempotent_and_use_before_initialize_names_the_service() -> None:
    # No service checks by hand: every public method and property of a Service is guarded.
    store = Store(Clock())

    with pytest.raises(ServiceNotInitializedError, match="Store is not initialized"):
        store.read()
    with pytest.raises(ServiceNotInitializedError, match="Store is not initialized"):
        _ = store.size
    store.initialize()
    store.initialize()
    assert (store.read(), store.size) == ("value", 1)
    store.cleanup()
    store.cleanup()

    assert (store.setups, store.teardowns) == (1, 1)
    with pytest.raises(ServiceNotInitializedError, match="Store is not initialized"):
        store.read()


def test_a_service_built_by_the_registry_is_usable_as_soon_as_it_can_be_got(registry: Registry) -> None:
    registry.start(Api)

    assert registry.get(Store).read() == "value"


def test_inject_without_annotation_is_refused() -> None:
    class Bad(Service):
        def __init__(self, thing=inject()) -> None:  # type: ignore[no-untyped-def]
            super().__init__()

    with pytest.raises(RuntimeError, match="without a type annotation"):
        Registry().register(Bad)


def test_register_after_build_is_refused(registry: Registry) -> None:
    registry.start()

    with pytest.raises(RuntimeError, match="already built"):
        registry.register(Store)


def test_an_optional_service_is_none_where_the_configuration_has_none() -> None:
    registry = Registry()
    registry.register_optional(Clock, lambda: None, dependencies=[])

    class Reader(Service):
        def __init__(self, leaf: Clock | None = inject()) -> None:
            super().__init__()
            self.leaf = leaf

    registry.register(Reader)
    registry.start(Reader)

    assert registry.get(Reader).leaf is None


def test_only_a_parameter_that_accepts_none_may_depend_on_an_optional_service() -> None:
    registry = Registry()
    registry.register_optional(Clock, Clock, dependencies=[])

    class Careless(Service):
        def __init__(self, leaf: Clock = inject()) -> None:
            super().__init__()

    registry.register(Careless)

    with pytest.raises(RegistryError, match=r"Careless: Clock may not be configured: annotate leaf as Clock \| None"):
        registry.validate()


def test_optional_is_accepted_in_either_spelling_and_a_union_of_services_is_refused() -> None:
    registry = Registry()
    registry.register_optional(Clock, lambda: None, dependencies=[])

    class Spelled(Service):
        def __init__(self, clock: typing.Optional[Clock] = inject()) -> None:  # noqa: UP045 - the old spelling, on purpose
            super().__init__()
            self.clock = clock

    class Either(Service):
        def __init__(self, source: Clock | Store | None = inject()) -> None:
            super().__init__()

    registry.register(Spelled)
    registry.start(Spelled)
    assert registry.get(Spelled).clock is None
    with pytest.raises(RegistryError, match=r"'source' must be one service type, or it \| None"):
        registry.register(Either)
