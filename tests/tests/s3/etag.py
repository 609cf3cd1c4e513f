"""Prints the ETag of one object. Usage: etag.py ENDPOINT KEY SECRET BUCKET OBJECT_KEY."""
import sys

from client import client

endpoint, key, secret, bucket, name = sys.argv[1:6]
print(client(endpoint, key, secret).head_object(Bucket=bucket, Key=name)["ETag"])
