"""The whole stack in this process: in-process moto with the template's resources, and every
function's variables set, so that the handlers run here (the bench's in-process parts, the
request walk)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from local.account import FAKE_CREDENTIALS
from local.template import Template


@contextmanager
def in_process_stack(template: Template) -> Iterator[Any]:
    """In-process moto with the template's resources and every function's variables set (all
    the handlers run in this process); their logs and EMF go to /dev/null. Yields the resources;
    the environment, stdout and the layer's registry are restored afterwards."""
    import boto3
    from moto import mock_aws

    from local.provisioning import LocalResources
    from nexus.services import registry

    saved = dict(os.environ)
    os.environ.update(FAKE_CREDENTIALS)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    devnull = os.open(os.devnull, os.O_WRONLY)
    stdout = os.dup(1)
    try:
        with mock_aws():
            resources = LocalResources(template, boto3.Session()).create_all()
            for function in template.functions().values():
                os.environ.update(resources.environment(function))
            sys.stdout.flush()
            os.dup2(devnull, 1)
            yield resources
    finally:
        sys.stdout.flush()
        os.dup2(stdout, 1)
        os.close(devnull)
        registry.reset()
        os.environ.clear()
        os.environ.update(saved)
