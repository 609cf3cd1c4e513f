"""boto3 multipart uploads against dfs: every operation and its errors.
Usage: multipart.py ENDPOINT OTHER_ENDPOINT KEY SECRET. Prints `ok <step>` per step; exits
non-zero (an assertion) at the first thing that does not behave."""
import hashlib
import os
import sys
import tempfile

from boto3.s3.transfer import TransferConfig

from client import client, fails

endpoint, other, key, secret = sys.argv[1:5]
s3 = client(endpoint, key, secret)
s3b = client(other, key, secret)
MIB = 1024 * 1024


def etag_of(parts):
    """S3's multipart ETag: MD5 of the binary part MD5s, then -N."""
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


s3.create_bucket(Bucket="mpu")

# Create, upload parts on two nodes, list, complete; read back byte-exact.
parts = [os.urandom(5 * MIB), os.urandom(5 * MIB + 17), os.urandom(1234)]
up = s3.create_multipart_upload(Bucket="mpu", Key="big/video.bin", ContentType="video/mp4",
                                Metadata={"camera": "7"})
uid = up["UploadId"]
done = []
for number, body in enumerate(parts, start=1):
    client_ = s3 if number % 2 else s3b
    answer = client_.upload_part(Bucket="mpu", Key="big/video.bin", UploadId=uid,
                                 PartNumber=number, Body=body)
    assert answer["ETag"] == f'"{hashlib.md5(body).hexdigest()}"', answer
    done.append({"PartNumber": number, "ETag": answer["ETag"]})
print("ok upload-parts")

listed = s3b.list_parts(Bucket="mpu", Key="big/video.bin", UploadId=uid)
assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2, 3], listed
assert [p["Size"] for p in listed["Parts"]] == [len(p) for p in parts], listed
assert [p["ETag"] for p in listed["Parts"]] == [d["ETag"] for d in done]
assert not listed["IsTruncated"]
paged = s3.list_parts(Bucket="mpu", Key="big/video.bin", UploadId=uid, MaxParts=2)
assert paged["IsTruncated"] and paged["NextPartNumberMarker"] == 2, paged
rest = s3.list_parts(Bucket="mpu", Key="big/video.bin", UploadId=uid, PartNumberMarker=2)
assert [p["PartNumber"] for p in rest["Parts"]] == [3] and not rest["IsTruncated"], rest
uploads = s3.list_multipart_uploads(Bucket="mpu")["Uploads"]
assert [(u["Key"], u["UploadId"]) for u in uploads] == [("big/video.bin", uid)], uploads
print("ok list-parts")

# Until Complete there is no object.
fails("NoSuchKey", s3.get_object, Bucket="mpu", Key="big/video.bin")
# Errors: an ETag that does not match, a missing part, parts out of order, a small middle part.
wrong = [dict(done[0]), done[1]]
wrong[0]["ETag"] = '"' + "0" * 32 + '"'
fails("InvalidPart", s3.complete_multipart_upload, Bucket="mpu", Key="big/video.bin",
      UploadId=uid, MultipartUpload={"Parts": wrong})
fails("InvalidPart", s3.complete_multipart_upload, Bucket="mpu", Key="big/video.bin",
      UploadId=uid, MultipartUpload={"Parts": done + [{"PartNumber": 9, "ETag": done[0]["ETag"]}]})
fails("InvalidPartOrder", s3.complete_multipart_upload, Bucket="mpu", Key="big/video.bin",
      UploadId=uid, MultipartUpload={"Parts": [done[1], done[0]]})
fails("NoSuchUpload", s3.upload_part, Bucket="mpu", Key="big/video.bin", UploadId="m" + "0" * 16,
      PartNumber=1, Body=b"x")
fails("NoSuchUpload", s3.list_parts, Bucket="mpu", Key="big/video.bin", UploadId="nonsense")
fails("NoSuchUpload", s3.upload_part, Bucket="mpu", Key="other-key", UploadId=uid,
      PartNumber=1, Body=b"x")
fails("InvalidArgument", s3.upload_part, Bucket="mpu", Key="big/video.bin", UploadId=uid,
      PartNumber=10001, Body=b"x")
print("ok errors")

# A failed Complete changed nothing: completing now works, from the other node.
completed = s3b.complete_multipart_upload(Bucket="mpu", Key="big/video.bin", UploadId=uid,
                                          MultipartUpload={"Parts": done})
assert completed["ETag"] == etag_of(parts), (completed["ETag"], etag_of(parts))
got = s3.get_object(Bucket="mpu", Key="big/video.bin")
body = got["Body"].read()
assert body == b"".join(parts), "byte-exact read back"
assert got["ETag"] == etag_of(parts) and got["ContentType"] == "video/mp4", got
assert got["Metadata"] == {"camera": "7"}, got["Metadata"]
ranged = s3b.get_object(Bucket="mpu", Key="big/video.bin", Range=f"bytes={5 * MIB - 10}-{5 * MIB + 9}")
assert ranged["Body"].read() == body[5 * MIB - 10:5 * MIB + 10], "a range across two parts"
head = s3b.head_object(Bucket="mpu", Key="big/video.bin")
assert head["ContentLength"] == len(body) and head["ETag"] == etag_of(parts)
listed = s3.list_objects_v2(Bucket="mpu", Prefix="big/")["Contents"]
assert [(o["Key"], o["ETag"]) for o in listed] == [("big/video.bin", etag_of(parts))], listed
assert s3.list_multipart_uploads(Bucket="mpu").get("Uploads", []) == []
# Repeating the Complete (a retry after a lost reply) answers the same; another list does not.
again = s3.complete_multipart_upload(Bucket="mpu", Key="big/video.bin", UploadId=uid,
                                     MultipartUpload={"Parts": done})
assert again["ETag"] == completed["ETag"] and again["VersionId"] == completed["VersionId"], again
fails("NoSuchUpload", s3.complete_multipart_upload, Bucket="mpu", Key="big/video.bin",
      UploadId=uid, MultipartUpload={"Parts": done[:1]})
print("ok complete")

# A small part that is not the last is EntityTooSmall; parts may be left out and replaced.
up = s3.create_multipart_upload(Bucket="mpu", Key="small")
sid = up["UploadId"]
small = [b"a" * 100, b"b" * 200]
tags = [s3.upload_part(Bucket="mpu", Key="small", UploadId=sid, PartNumber=n + 1, Body=b)["ETag"]
        for n, b in enumerate(small)]
fails("EntityTooSmall", s3.complete_multipart_upload, Bucket="mpu", Key="small", UploadId=sid,
      MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": tags[0]},
                                 {"PartNumber": 2, "ETag": tags[1]}]})
again = s3.upload_part(Bucket="mpu", Key="small", UploadId=sid, PartNumber=2, Body=b"c" * 50)
s3.complete_multipart_upload(Bucket="mpu", Key="small", UploadId=sid,
                             MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": again["ETag"]}]})
assert s3.get_object(Bucket="mpu", Key="small")["Body"].read() == b"c" * 50
print("ok too-small")

# UploadPartCopy: a whole object by reference, and a range.
source = os.urandom(17 * MIB)  # above two 8 MiB chunks: always several chunks
s3.put_object(Bucket="mpu", Key="source.bin", Body=source)
up = s3.create_multipart_upload(Bucket="mpu", Key="copied.bin")
cid = up["UploadId"]
whole = s3.upload_part_copy(Bucket="mpu", Key="copied.bin", UploadId=cid, PartNumber=1,
                            CopySource={"Bucket": "mpu", "Key": "source.bin"})
assert whole["CopyPartResult"]["ETag"] == f'"{hashlib.md5(source).hexdigest()}"', whole
ranged = s3b.upload_part_copy(Bucket="mpu", Key="copied.bin", UploadId=cid, PartNumber=2,
                              CopySource={"Bucket": "mpu", "Key": "source.bin"},
                              CopySourceRange="bytes=100-1099")
piece = source[100:1100]
assert ranged["CopyPartResult"]["ETag"] == f'"{hashlib.md5(piece).hexdigest()}"', ranged
# The multipart object as a copy source (its ETag is not an MD5: read once for the part's).
mp = s3.upload_part_copy(Bucket="mpu", Key="copied.bin", UploadId=cid, PartNumber=3,
                         CopySource={"Bucket": "mpu", "Key": "small"})
assert mp["CopyPartResult"]["ETag"] == f'"{hashlib.md5(b"c" * 50).hexdigest()}"', mp
fails("NoSuchKey", s3.upload_part_copy, Bucket="mpu", Key="copied.bin", UploadId=cid,
      PartNumber=4, CopySource={"Bucket": "mpu", "Key": "nothing-here"})
fails("InvalidRange", s3.upload_part_copy, Bucket="mpu", Key="copied.bin", UploadId=cid,
      PartNumber=4, CopySource={"Bucket": "mpu", "Key": "source.bin"},
      CopySourceRange=f"bytes={len(source)}-{len(source) + 5}")
parts_done = [{"PartNumber": 1, "ETag": whole["CopyPartResult"]["ETag"]},
              {"PartNumber": 2, "ETag": ranged["CopyPartResult"]["ETag"]},
              {"PartNumber": 3, "ETag": mp["CopyPartResult"]["ETag"]}]
# Part 2 (1,000 bytes) is not the last: too small. Complete with 1 and 3.
fails("EntityTooSmall", s3.complete_multipart_upload, Bucket="mpu", Key="copied.bin",
      UploadId=cid, MultipartUpload={"Parts": parts_done})
out = s3.complete_multipart_upload(Bucket="mpu", Key="copied.bin", UploadId=cid,
                                   MultipartUpload={"Parts": [parts_done[0], parts_done[2]]})
assert out["ETag"] == etag_of([source, b"c" * 50]), out
assert s3b.get_object(Bucket="mpu", Key="copied.bin")["Body"].read() == source + b"c" * 50
print("ok upload-part-copy")

# ListMultipartUploads: prefix, delimiter, paging by key and upload id markers; then abort.
ids = {}
for k in ["logs/a", "logs/a", "logs/b", "pics/x", "top"]:
    ids.setdefault(k, []).append(s3.create_multipart_upload(Bucket="mpu", Key=k)["UploadId"])
everything = s3.list_multipart_uploads(Bucket="mpu")["Uploads"]
assert [u["Key"] for u in everything] == ["logs/a", "logs/a", "logs/b", "pics/x", "top"], everything
assert [u["UploadId"] for u in everything[:2]] == sorted(ids["logs/a"])
grouped = s3.list_multipart_uploads(Bucket="mpu", Delimiter="/")
assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["logs/", "pics/"], grouped
assert [u["Key"] for u in grouped["Uploads"]] == ["top"], grouped
inside = s3.list_multipart_uploads(Bucket="mpu", Prefix="logs/")["Uploads"]
assert [u["Key"] for u in inside] == ["logs/a", "logs/a", "logs/b"], inside
seen, marker = [], {}
while True:
    page = s3b.list_multipart_uploads(Bucket="mpu", MaxUploads=2, **marker)
    seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
    if not page["IsTruncated"]:
        break
    marker = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
assert seen == [(u["Key"], u["UploadId"]) for u in everything], seen
for k, uids in ids.items():
    for u in uids:
        s3b.abort_multipart_upload(Bucket="mpu", Key=k, UploadId=u)
assert s3.list_multipart_uploads(Bucket="mpu").get("Uploads", []) == []
fails("NoSuchUpload", s3.abort_multipart_upload, Bucket="mpu", Key="top", UploadId=ids["top"][0])
fails("NoSuchUpload", s3.upload_part, Bucket="mpu", Key="top", UploadId=ids["top"][0],
      PartNumber=1, Body=b"late")
print("ok list-abort")

# boto3's managed transfer (upload_file above its threshold) uses all of the above; at 20 MiB
# the Complete answers with keep-alive whitespace while the parts are read for the hash.
data = os.urandom(4 * 5 * MIB + 3)
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "managed.bin")
    with open(path, "wb") as f:
        f.write(data)
    s3.upload_file(path, "mpu", "managed.bin",
                   Config=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB))
head = s3b.head_object(Bucket="mpu", Key="managed.bin")
assert head["ETag"].endswith('-5"'), head["ETag"]
assert s3b.get_object(Bucket="mpu", Key="managed.bin")["Body"].read() == data
print("ok managed-transfer")
