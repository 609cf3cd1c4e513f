"""Versions through S3 are dfs versions. Usage: versions.py ENDPOINT KEY SECRET."""
import sys

from client import client, fails

endpoint, key, secret = sys.argv[1:4]
s3 = client(endpoint, key, secret)
s3.create_bucket(Bucket="docs")
assert s3.get_bucket_versioning(Bucket="docs")["Status"] == "Enabled"
first = s3.put_object(Bucket="docs", Key="report.txt", Body=b"draft")
second = s3.put_object(Bucket="docs", Key="report.txt", Body=b"final")
assert (first["VersionId"], second["VersionId"]) == ("1", "2"), (first, second)
old = s3.get_object(Bucket="docs", Key="report.txt", VersionId="1")
assert old["Body"].read() == b"draft" and old["VersionId"] == "1"
assert s3.get_object(Bucket="docs", Key="report.txt")["Body"].read() == b"final"
assert s3.head_object(Bucket="docs", Key="report.txt", VersionId="2")["ContentLength"] == 5
fails("NoSuchVersion", s3.get_object, Bucket="docs", Key="report.txt", VersionId="99")
fails("InvalidArgument", s3.get_object, Bucket="docs", Key="report.txt", VersionId="nope")
print("ok versions")
