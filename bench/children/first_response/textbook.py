"""The textbook handler: what Powertools' documentation teaches, as ran-isenberg's
aws-lambda-handler-cookbook builds it: ``APIGatewayHttpResolver(enable_validation=True)``,
``Logger``, ``Metrics``, one pydantic model, a boto3 DynamoDB client built at init and one
``GetItem`` of the user the bench seeded (``BENCH_TABLE``, ``BENCH_PK``).
"""

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel

logger = Logger()
metrics = Metrics(namespace="Textbook")
resolver = APIGatewayHttpResolver(enable_validation=True)
dynamodb = boto3.client("dynamodb")
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
