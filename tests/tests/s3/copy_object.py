"""CopyObject (server side, metadata COPY and REPLACE) and presigned GET/PUT URLs.
Usage: copy_object.py ENDPOINT KEY SECRET. Leaves copies/src.bin and copies/dst.bin for the caller."""
import hashlib
import os
import sys
import urllib.error
import urllib.request

from client import client, fails

endpoint, key, secret = sys.argv[1:4]
s3 = client(endpoint, key, secret)
s3.create_bucket(Bucket="copies")
body = os.urandom(6 << 20)
s3.put_object(Bucket="copies", Key="src.bin", Body=body, ContentType="application/x-test",
              Metadata={"origin": "source"})
md5 = hashlib.md5(body).hexdigest()
copied = s3.copy_object(Bucket="copies", Key="dst.bin", CopySource={"Bucket": "copies", "Key": "src.bin"})
assert copied["CopyObjectResult"]["ETag"] == f'"{md5}"', copied
got = s3.get_object(Bucket="copies", Key="dst.bin")
assert got["Body"].read() == body and got["Metadata"] == {"origin": "source"}
assert got["ContentType"] == "application/x-test" and got["ETag"] == f'"{md5}"'
s3.copy_object(Bucket="copies", Key="replaced.bin", CopySource="copies/src.bin",
               MetadataDirective="REPLACE", Metadata={"origin": "new"}, ContentType="text/plain")
head = s3.head_object(Bucket="copies", Key="replaced.bin")
assert head["Metadata"] == {"origin": "new"} and head["ContentType"] == "text/plain", head
fails("NoSuchKey", s3.copy_object, Bucket="copies", Key="x", CopySource="copies/missing")
fails("PreconditionFailed", s3.copy_object, Bucket="copies", Key="x", CopySource="copies/src.bin",
      CopySourceIfMatch="0" * 32)
print("ok copy")

# Presigned URLs: a GET and a PUT by a client with no credentials, and a tampered one refused.
url = s3.generate_presigned_url("get_object", Params={"Bucket": "copies", "Key": "src.bin"}, ExpiresIn=300)
assert urllib.request.urlopen(url).read() == body
put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "copies", "Key": "presigned.txt"}, ExpiresIn=300)
urllib.request.urlopen(urllib.request.Request(put_url, data=b"via a presigned PUT", method="PUT")).read()
assert s3.get_object(Bucket="copies", Key="presigned.txt")["Body"].read() == b"via a presigned PUT"
tampered = url.replace("src.bin", "dst.bin")
try:
    urllib.request.urlopen(tampered)
    raise AssertionError("a tampered presigned URL worked")
except urllib.error.HTTPError as e:
    assert e.code == 403 and b"SignatureDoesNotMatch" in e.read()
print("ok presigned")
