"""The floor of an HTTP function: Powertools' resolver."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()
