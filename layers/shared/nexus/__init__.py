"""Nexus Serverless: the service layer shipped as a Lambda layer."""

from nexus.imports import defer_package_init

# Before any module of the layer (or a function) imports from them: see nexus.imports.
defer_package_init("aws_lambda_powertools.event_handler")
defer_package_init("aws_lambda_powertools.utilities.data_classes")
