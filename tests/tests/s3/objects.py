"""boto3 against dfs: buckets, objects, conditions, ranges, deletes and paged listings.
Usage: objects.py ENDPOINT OTHER_ENDPOINT KEY SECRET. Prints `ok <step>` per step; exits
non-zero (an assertion) at the first thing that does not behave."""
import hashlib
import sys

from client import client, fails

endpoint, other, key, secret = sys.argv[1:5]
s3 = client(endpoint, key, secret)
s3b = client(other, key, secret)

# Buckets.
s3.create_bucket(Bucket="photos")
assert fails("BucketAlreadyOwnedByYou", s3.create_bucket, Bucket="photos") == 409
fails("InvalidBucketName", s3.create_bucket, Bucket="Bad_Name")
s3.head_bucket(Bucket="photos")
assert fails("404", s3.head_bucket, Bucket="nosuchbucket") == 404
fails("NoSuchBucket", s3.list_objects_v2, Bucket="nosuchbucket")
names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
assert "photos" in names, names
assert s3.get_bucket_location(Bucket="photos")["LocationConstraint"] == "dfs"
print("ok buckets")

# PutObject / GetObject with metadata, from another node.
body = bytes(range(256)) * 4096 + b"tail"
put = s3.put_object(Bucket="photos", Key="2026/cat.jpg", Body=body, ContentType="image/jpeg",
                    ContentDisposition="inline", Metadata={"Color": "black"})
md5 = hashlib.md5(body).hexdigest()
assert put["ETag"] == f'"{md5}"', put["ETag"]
got = s3b.get_object(Bucket="photos", Key="2026/cat.jpg")
assert got["Body"].read() == body
assert got["ETag"] == f'"{md5}"' and got["ContentType"] == "image/jpeg"
assert got["ContentDisposition"] == "inline" and got["Metadata"] == {"color": "black"}, got
head = s3b.head_object(Bucket="photos", Key="2026/cat.jpg")
assert head["ContentLength"] == len(body) and head["ETag"] == f'"{md5}"'
print("ok put-get")

# Ranges and conditions.
part = s3.get_object(Bucket="photos", Key="2026/cat.jpg", Range="bytes=1000-1999")
assert part["Body"].read() == body[1000:2000] and part["ContentRange"] == f"bytes 1000-1999/{len(body)}"
tail = s3.get_object(Bucket="photos", Key="2026/cat.jpg", Range="bytes=-4")
assert tail["Body"].read() == b"tail"
fails("InvalidRange", s3.get_object, Bucket="photos", Key="2026/cat.jpg", Range=f"bytes={len(body)}-")
s3.get_object(Bucket="photos", Key="2026/cat.jpg", IfMatch=md5)["Body"].read()
assert fails("PreconditionFailed", s3.get_object, Bucket="photos", Key="2026/cat.jpg", IfMatch="0" * 32) == 412
assert fails("304", s3.get_object, Bucket="photos", Key="2026/cat.jpg", IfNoneMatch=md5) == 304
print("ok ranges-conditions")

# Conditional PUT: If-None-Match: * refuses an existing key; If-Match needs the current ETag.
fails("PreconditionFailed", s3.put_object, Bucket="photos", Key="2026/cat.jpg", Body=b"x", IfNoneMatch="*")
s3.put_object(Bucket="photos", Key="new.txt", Body=b"first", IfNoneMatch="*")
fails("PreconditionFailed", s3.put_object, Bucket="photos", Key="new.txt", Body=b"x", IfMatch="0" * 32)
s3.put_object(Bucket="photos", Key="new.txt", Body=b"second", IfMatch=hashlib.md5(b"first").hexdigest())
assert s3.get_object(Bucket="photos", Key="new.txt")["Body"].read() == b"second"
print("ok conditional-put")

# Keys dfs cannot keep are refused with an error, never mapped elsewhere.
for bad in ["a/../../etc/passwd", "a//b", "dir/", "ctl\x01char", "./x"]:
    try:
        s3.put_object(Bucket="photos", Key=bad, Body=b"x")
    except Exception as e:  # botocore may refuse some before sending; the node refuses the rest
        continue
    raise AssertionError(f"key {bad!r} was accepted")
fails("NoSuchKey", s3.get_object, Bucket="photos", Key="missing")
print("ok bad-keys")

# Listings: 25 keys in 3 folders, paged by 4, with and without a delimiter.
keys = sorted([f"list/{d}/{i:02}" for d in "abc" for i in range(7)] + [f"list/top{i}" for i in range(4)])
for k in keys:
    s3.put_object(Bucket="photos", Key=k, Body=k.encode())
seen, token = [], None
while True:
    kw = {"ContinuationToken": token} if token else {}
    page = s3.list_objects_v2(Bucket="photos", Prefix="list/", MaxKeys=4, **kw)
    assert page["KeyCount"] <= 4
    seen += [o["Key"] for o in page.get("Contents", [])]
    if not page["IsTruncated"]:
        break
    token = page["NextContinuationToken"]
assert seen == keys, seen
grouped = s3.list_objects_v2(Bucket="photos", Prefix="list/", Delimiter="/")
assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["list/a/", "list/b/", "list/c/"]
assert [o["Key"] for o in grouped["Contents"]] == [f"list/top{i}" for i in range(4)]
after = s3.list_objects_v2(Bucket="photos", Prefix="list/", StartAfter="list/c/03")
assert [o["Key"] for o in after["Contents"]] == keys[keys.index("list/c/03") + 1:]
paginator = s3.get_paginator("list_objects")
v1 = [o["Key"] for p in paginator.paginate(Bucket="photos", Prefix="list/", PaginationConfig={"PageSize": 5}) for o in p.get("Contents", [])]
assert v1 == keys, v1
print("ok listings")

# Deletes: one, a batch with per-key results, then the bucket (409 while not empty).
assert fails("BucketNotEmpty", s3.delete_bucket, Bucket="photos") == 409
s3.delete_object(Bucket="photos", Key="new.txt")
fails("NoSuchKey", s3.get_object, Bucket="photos", Key="new.txt")
s3.delete_object(Bucket="photos", Key="new.txt")  # deleting a missing key succeeds, as in S3
result = s3.delete_objects(Bucket="photos", Delete={"Objects": [{"Key": k} for k in keys] + [{"Key": "a//b"}]})
assert sorted(d["Key"] for d in result["Deleted"]) == keys
assert [e["Key"] for e in result["Errors"]] == ["a//b"], result["Errors"]
print("ok deletes")
