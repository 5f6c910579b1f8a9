"""The floor's libraries, each used the least a handler can: a Logger and Metrics, a pydantic model."""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics(namespace="Floor")
from pydantic import BaseModel  # noqa: E402 - imported after the Logger and Metrics are built, as measured


class Settings(BaseModel):
    table_name: str = "t"
    ttl_seconds: int = 300
