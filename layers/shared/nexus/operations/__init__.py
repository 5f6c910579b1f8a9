"""Composite operations: one per Lambda function, each combining the services."""
