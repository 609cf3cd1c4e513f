"""Shared by the boto3 scripts: a path-style S3 client for an endpoint and a key pair."""
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def client(endpoint, key, secret, **config):
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
        region_name="dfs",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config))


def fails(code, call, *args, **kwargs):
    """call(...) must fail with S3 error `code`; returns the HTTP status."""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e}"
        return e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"expected {code}, the call succeeded")
