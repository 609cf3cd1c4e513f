"""An abandoned multipart upload. Usage: multipart_expire.py STEP ENDPOINT KEY SECRET.
`start`: create an upload and store one part; `gone`: succeeds only once no upload is left in
the bucket and the part list of every upload is NoSuchUpload."""
import sys

from client import client, fails

step, endpoint, key, secret = sys.argv[1:5]
s3 = client(endpoint, key, secret)
if step == "start":
    s3.create_bucket(Bucket="abandoned")
    uid = s3.create_multipart_upload(Bucket="abandoned", Key="left.bin")["UploadId"]
    s3.upload_part(Bucket="abandoned", Key="left.bin", UploadId=uid, PartNumber=1,
                   Body=b"never completed " * 1000)
    with open(sys.argv[5], "w") as f:
        f.write(uid)
else:
    assert s3.list_multipart_uploads(Bucket="abandoned").get("Uploads", []) == []
    with open(sys.argv[5]) as f:
        uid = f.read()
    fails("NoSuchUpload", s3.list_parts, Bucket="abandoned", Key="left.bin", UploadId=uid)
print(f"ok {step}")
