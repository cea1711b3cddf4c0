"""Operator tooling that runs against AWS or the local cloud (boto3 honours AWS_ENDPOINT_URL)."""
