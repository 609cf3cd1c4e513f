"""Usage: failover.py STEP ENDPOINT KEY SECRET. `before`: write through this node; `after`: the
node that took the writes is dead; read them and write more through this one."""
import sys

from client import client

step, endpoint, key, secret = sys.argv[1:5]
s3 = client(endpoint, key, secret, connect_timeout=5, read_timeout=30)
if step == "before":
    s3.create_bucket(Bucket="hatest")
    for i in range(5):
        s3.put_object(Bucket="hatest", Key=f"k{i}", Body=f"value {i}".encode())
else:
    for i in range(5):
        assert s3.get_object(Bucket="hatest", Key=f"k{i}")["Body"].read() == f"value {i}".encode()
    s3.put_object(Bucket="hatest", Key="after", Body=b"written after the failure")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="hatest")["Contents"]]
    assert keys == ["after"] + [f"k{i}" for i in range(5)], keys
print(f"ok {step}")
