"""The floor of a function that uses DynamoDB: a pynamodb model."""

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model


class Item(Model):
    class Meta:
        table_name = "t"

    pk = UnicodeAttribute(hash_key=True)
