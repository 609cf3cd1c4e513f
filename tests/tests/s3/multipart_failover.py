"""A multipart upload that outlives the node it started on.
Usage: multipart_failover.py STEP ENDPOINT KEY SECRET STATE. `start`: create the upload and
store two parts through this node, writing the upload id and part ETags to STATE; `finish`:
the first node is dead; store the last part through this node, check the parts survived,
complete, and read the object back byte for byte."""
import hashlib
import json
import random
import sys

from client import client

step, endpoint, key, secret, state = sys.argv[1:6]
s3 = client(endpoint, key, secret, connect_timeout=5, read_timeout=60)
MIB = 1024 * 1024
parts = [random.Random(n).randbytes(size) for n, size in enumerate([5 * MIB, 5 * MIB + 1, 777])]
if step == "start":
    s3.create_bucket(Bucket="mpufail")
    uid = s3.create_multipart_upload(Bucket="mpufail", Key="object.bin")["UploadId"]
    tags = [s3.upload_part(Bucket="mpufail", Key="object.bin", UploadId=uid, PartNumber=n + 1,
                           Body=parts[n])["ETag"] for n in range(2)]
    with open(state, "w") as f:
        json.dump({"upload": uid, "tags": tags}, f)
else:
    with open(state) as f:
        saved = json.load(f)
    uid, tags = saved["upload"], saved["tags"]
    listed = s3.list_parts(Bucket="mpufail", Key="object.bin", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == [(1, tags[0]), (2, tags[1])], listed
    tags.append(s3.upload_part(Bucket="mpufail", Key="object.bin", UploadId=uid, PartNumber=3,
                               Body=parts[2])["ETag"])
    done = [{"PartNumber": n + 1, "ETag": t} for n, t in enumerate(tags)]
    out = s3.complete_multipart_upload(Bucket="mpufail", Key="object.bin", UploadId=uid,
                                       MultipartUpload={"Parts": done})
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    assert out["ETag"] == f'"{hashlib.md5(joined).hexdigest()}-3"', out
    body = s3.get_object(Bucket="mpufail", Key="object.bin")["Body"].read()
    assert body == b"".join(parts), "byte-exact after the failover"
print(f"ok {step}")
