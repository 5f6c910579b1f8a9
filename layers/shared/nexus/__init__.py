"""Nexus Serverless: the service layer shipped as a Lambda layer."""
