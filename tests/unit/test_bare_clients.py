"""devkit.bare_clients: the cold-start bench's bare baseline, derived from the functions' roles."""

from __future__ import annotations

import botocore.session

from devkit.bare_clients import bare_clients
from local.template import Template


def test_every_function_of_the_template_has_a_bare_baseline_of_real_clients() -> None:
    template = Template()
    clients = bare_clients(template)
    services = set(botocore.session.get_session().get_available_services())

    assert sorted(clients) == sorted(template.functions())
    for function, names in clients.items():
        assert names, f"{function}: a bare handler of it would build no client"
        assert set(names) <= services | {"urllib3"}, f"{function}: {names} are not all boto3 clients"
