"""The layer's one Logger and Metrics (service name and namespace come from env)."""

from __future__ import annotations

import logging
import warnings

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics(namespace="Nexus")

# Most invocations emit no business metric; that is not worth a warning each time.
warnings.filterwarnings("ignore", message="No application metrics to publish")

# Lambda sets the root logger to the function's ApplicationLogLevel. At DEBUG (the dev profile)
# these libraries log whole requests and responses: the cursor key and the Redis password from
# Secrets Manager, the webhook secret from SSM, users' email addresses in DynamoDB and SES calls.
# They stay at INFO whatever the level; DEBUG shows the layer's own lines.
LIBRARIES_KEPT_AT_INFO = ("botocore", "boto3", "s3transfer", "urllib3", "pynamodb", "redis")
for _library in LIBRARIES_KEPT_AT_INFO:
    logging.getLogger(_library).setLevel(logging.INFO)
