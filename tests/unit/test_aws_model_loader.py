"""``nexus.aws.ModelLoader``: botocore's data, as botocore's own loader reads it, at less cost."""

from __future__ import annotations

import os

import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError

from local.account import FAKE_CREDENTIALS
from nexus import aws
from nexus.aws import ModelLoader

# Every AWS service the layer calls (template.yaml's policies name the same).
SERVICES = ("dynamodb", "sesv2", "kinesis", "sqs", "secretsmanager", "ssm")


@pytest.fixture(scope="module")
def loaders() -> tuple[ModelLoader, botocore.loaders.Loader]:
    return ModelLoader(), botocore.loaders.Loader()


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("type_name", ["service-2", "endpoint-rule-set-1"])
def test_a_model_is_the_one_botocore_loads(
    loaders: tuple[ModelLoader, botocore.loaders.Loader], service: str, type_name: str
) -> None:
    ours, botocores = loaders

    assert ours.load_service_model(service, type_name) == botocores.load_service_model(service, type_name)


@pytest.mark.parametrize("name", ["endpoints", "partitions", "_retry", "sdk-default-configuration"])
def test_shared_data_is_the_one_botocore_loads(loaders: tuple[ModelLoader, botocore.loaders.Loader], name: str) -> None:
    ours, botocores = loaders

    assert ours.load_data(name) == botocores.load_data(name)


def test_the_services_it_lists_are_botocores(loaders: tuple[ModelLoader, botocore.loaders.Loader]) -> None:
    ours, botocores = loaders
    listed = ours.list_available_services("service-2")

    assert list(listed) == botocores.list_available_services("service-2")
    assert "dynamodb" in listed
    assert len(listed) == len(botocores.list_available_services("service-2"))


@pytest.mark.parametrize("name", ["no-such-service", "", "../dynamodb", ".", "dynamodb/2012-08-10"])
def test_a_name_without_a_model_is_not_listed(name: str) -> None:
    assert name not in ModelLoader().list_available_services("service-2")


def test_an_unknown_service_fails_as_in_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(variable, value)
    aws.reset()

    with pytest.raises(UnknownServiceError, match="Unknown service: 'no-such-service'"):
        aws.session().create_client("no-such-service")
    assert isinstance(aws.session().get_component("data_loader"), ModelLoader)
    aws.reset()


def test_aws_data_path_is_still_searched_first(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    session = botocore.session.get_session()

    loader = ModelLoader(session.get_config_variable("data_path"))

    assert loader.search_paths[0] == str(tmp_path)


def test_a_new_session_reuses_the_models_already_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(variable, value)
    aws.reset()
    first = aws.session()
    aws.reset()

    assert aws.session() is not first
    assert aws.session().get_component("data_loader") is first.get_component("data_loader")
    aws.reset()


def test_every_file_of_botocores_data_decodes_to_what_json_makes_of_it() -> None:
    """pydantic-core's parser stands in for ``json`` (numbers, escapes, order): all of botocore's data."""
    import gzip
    import json
    from pathlib import Path

    root = Path(botocore.__file__).parent / "data"
    files = sorted(root.rglob("*.json")) + sorted(root.rglob("*.json.gz"))
    assert len(files) > 1000  # every service's models, not one directory

    for path in files:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        # Equal once serialized again: the same values and every object's keys in the same order.
        assert json.dumps(aws.decode_json(data)) == json.dumps(json.loads(data)), path
