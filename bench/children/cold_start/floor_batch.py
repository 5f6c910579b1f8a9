"""The floor of a trigger, which reports partial batch failures: Powertools' batch processor."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

processor = BatchProcessor(event_type=EventType.SQS)
