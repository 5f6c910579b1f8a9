"""The layer's one Logger and Metrics (service name and namespace come from env)."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics(namespace="Nexus")

# Most invocations emit no business metric; that is not worth a warning each time.
warnings.filterwarnings("ignore", message="No application metrics to publish")
