"""The floor: the textbook handler (textbook.py) on this project's stack, loaded as the layer
loads it.

``nexus`` first: its ``__init__`` pauses the cyclic collector and defers Powertools' package
``__init__``s; botocore through ``nexus.aws`` (no boto3); pynamodb imported. Of the project's
code only ``nexus/__init__`` and ``nexus.aws`` run. Below the imports, the textbook's code but
for its client.
"""

# isort: off
from nexus import aws
import pynamodb.models  # noqa: F401 - imported by every function of the stack

# isort: on
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel

logger = Logger()
metrics = Metrics(namespace="Textbook")
resolver = APIGatewayHttpResolver(enable_validation=True)
dynamodb = aws.LazyClient("dynamodb")
TABLE = os.environ["BENCH_TABLE"]


class User(BaseModel):
    id: str
    username: str
    email: str


@resolver.get("/users/<user_id>")
def get_user(user_id: str) -> User:
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": os.environ["BENCH_PK"]}})["Item"]
    metrics.add_metric(name="UserRead", unit=MetricUnit.Count, value=1)
    return User(id=item["user_id"]["S"], username=item["username"]["S"], email=item["email"]["S"])


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return resolver.resolve(event, context)
