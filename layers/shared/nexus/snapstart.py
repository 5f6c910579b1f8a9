"""SnapStart: what the copies restored from one snapshot must not share, renewed after a restore
(``after_restore``), which ``register()`` hands to the runtime's ``snapshot_restore_py`` (absent
outside Lambda, e.g. in unit tests: nothing is registered).

docs/decisions.md, 'Every function is published behind the alias "live"'.
"""

from __future__ import annotations

import random

from nexus import aws

_registered = False


def after_restore() -> None:
    """Renew what a restored copy must not share with the others."""
    random.seed()  # else botocore's retry jitter (and any other draw) is the same in every copy
    try:
        import ulid
    except ImportError:  # only the user functions use ULIDs
        pass
    else:
        # Its monotonic state, the last id made; the ids' randomness is os.urandom's, fresh per copy.
        ulid.default_generator = ulid.ULIDGenerator()
    # Their pooled connections and cached credentials belong to the snapshotted environment; the
    # services keep their LazyClient, which builds a new client at its next use.
    aws.renew_clients()


def register() -> bool:
    """Register ``after_restore`` with the runtime's restore hooks, once; False without them."""
    global _registered
    if _registered:
        return True
    try:
        from snapshot_restore_py import register_after_restore  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return False
    register_after_restore(after_restore)
    _registered = True
    return True
