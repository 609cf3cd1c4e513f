"""One object through each endpoint given: put through the first, read back through every one.
Usage: smoke.py KEY SECRET ENDPOINT..."""
import sys

from client import client

key, secret, *endpoints = sys.argv[1:]
first = client(endpoints[0], key, secret)
first.create_bucket(Bucket="smoke")
first.put_object(Bucket="smoke", Key="hello.txt", Body=b"hello from s3")
for endpoint in endpoints:
    got = client(endpoint, key, secret).get_object(Bucket="smoke", Key="hello.txt")
    assert got["Body"].read() == b"hello from s3", endpoint
print("ok smoke")
