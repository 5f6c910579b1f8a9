"""The bare handler: ``import boto3``, one DynamoDB client, one ``GetItem``."""

import json
import os

import boto3

dynamodb = boto3.client("dynamodb")


def handler(event: dict[str, object], context: object) -> dict[str, object]:
    item = dynamodb.get_item(TableName=os.environ["BENCH_TABLE"], Key={"pk": {"S": os.environ["BENCH_PK"]}})["Item"]
    return {"statusCode": 200, "body": json.dumps({"id": item["user_id"]["S"]})}
