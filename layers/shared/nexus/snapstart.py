"""SnapStart: what an execution environment restored from a snapshot must not share.

With SnapStart (template parameter ``SnapStart=true``) Lambda runs the init phase once, when a
version is published, snapshots the memory and restores copies of it for every new execution
environment. Each copy starts with the same Python state, so after a restore:

- ``random`` gets a fresh seed: botocore's retry jitter (and anything else drawing from it)
  would otherwise be identical in every copy;
- python-ulid's generator forgets the last id it made (its monotonic state): ids stay unique
  across copies, their randomness comes from ``os.urandom`` (the kernel's, fresh per copy);
- every botocore client already built is discarded (``nexus.aws.renew_clients``): its pooled
  connections and cached credentials belong to the snapshotted environment; the services keep
  their ``LazyClient``, which builds a new client at its next use.

``register()`` hands ``after_restore`` to the runtime's ``snapshot_restore_py`` (the python3.13
runtime ships it; without it, e.g. in unit tests, nothing is registered). It is cheap at init:
the module is a few lines of registry.
"""

from __future__ import annotations

import random

from nexus import aws

_registered = False


def after_restore() -> None:
    """Renew what a restored copy must not share with the others (see the module docstring)."""
    random.seed()
    try:
        import ulid
    except ImportError:  # only the user functions use ULIDs
        pass
    else:
        ulid.default_generator = ulid.ULIDGenerator()
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
