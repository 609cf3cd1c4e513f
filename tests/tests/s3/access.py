"""Access through S3: a key acts as its dfs user, with that user's grants.
Usage: access.py STEP ENDPOINT KEY SECRET. Steps:
  denied   the key's user has no grant on bucket `private` (admin-made): AccessDenied
  reader   the user was granted read: it can read but not write
  refused  the key is unknown / removed: InvalidAccessKeyId; wrong secret: SignatureDoesNotMatch;
           unsigned: AccessDenied."""
import sys

import urllib.error
import urllib.request
from botocore import UNSIGNED
from botocore.config import Config

from client import client, fails

step, endpoint, key, secret = sys.argv[1:5]
s3 = client(endpoint, key, secret)

if step == "denied":
    assert "private" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    fails("AccessDenied", s3.get_object, Bucket="private", Key="secret.txt")
    fails("AccessDenied", s3.put_object, Bucket="private", Key="mine.txt", Body=b"x")
    fails("AccessDenied", s3.list_objects_v2, Bucket="private")
    fails("AccessDenied", s3.delete_object, Bucket="private", Key="secret.txt")
    fails("AccessDenied", s3.delete_bucket, Bucket="private")
    fails("AccessDenied", s3.create_bucket, Bucket="alices")  # the root is the admin's
elif step == "reader":
    assert s3.get_object(Bucket="private", Key="secret.txt")["Body"].read() == b"top secret"
    assert "private" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    fails("AccessDenied", s3.put_object, Bucket="private", Key="mine.txt", Body=b"x")
    # Removing a version needs the grant a delete needs.
    fails("AccessDenied", s3.delete_object, Bucket="private", Key="secret.txt", VersionId="1")
    assert s3.get_object(Bucket="private", Key="secret.txt", VersionId="1")["Body"].read() == b"top secret"
elif step == "refused":
    fails("InvalidAccessKeyId", s3.list_buckets)
    fails("InvalidAccessKeyId", s3.get_object, Bucket="private", Key="secret.txt")
    bad = client(endpoint, sys.argv[5], "not-the-right-secret-at-all-0123456789")
    fails("SignatureDoesNotMatch", bad.get_object, Bucket="private", Key="secret.txt")
    fails("SignatureDoesNotMatch", bad.put_object, Bucket="private", Key="x", Body=b"x")
    anonymous = client(endpoint, "x", "y", signature_version=UNSIGNED)
    fails("AccessDenied", anonymous.get_object, Bucket="private", Key="secret.txt")
    fails("AccessDenied", anonymous.put_object, Bucket="private", Key="x", Body=b"x")
    try:
        urllib.request.urlopen(f"{endpoint}/private/secret.txt")
        raise AssertionError("an unsigned GET succeeded")
    except urllib.error.HTTPError as e:
        body = e.read()
        assert e.code == 403 and b"<Code>AccessDenied</Code>" in body, body
else:
    raise SystemExit(f"unknown step {step}")
print(f"ok {step}")
