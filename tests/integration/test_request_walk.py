"""What a warm request crosses (devkit.request_walk): on the DynamoDB backend no cache code runs,
since the container wired none, and the route reaches its composite without another lookup."""

from __future__ import annotations

from devkit.request_walk import walks
from local.provisioning import LocalResources
from local.template import Template

SHARED = "layers/shared/nexus/"


def test_a_read_on_the_dynamodb_backend_crosses_no_cache_code(aws: LocalResources, template: Template) -> None:
    found = walks(template)

    for request, walk in found.items():
        assert not [file for file in walk.files if file.startswith((f"{SHARED}cache/", f"{SHARED}users/caching"))], (
            request
        )
    get = found["GET /users/{user_id}"].files
    assert get.index("functions/get_user/app.py") < get.index(f"{SHARED}operations/user_queries.py")
    assert get.index(f"{SHARED}operations/user_queries.py") < get.index(f"{SHARED}users/service.py")
