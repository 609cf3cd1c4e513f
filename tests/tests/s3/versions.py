"""Versions through S3 are dfs versions. Usage: versions.py STEP ENDPOINT KEY SECRET. Steps:
  s3      versions written, listed (paged), read by id; a delete leaves a delete marker (GET 404
          with x-amz-delete-marker); removing the marker brings the object back; removing one
          version; PutBucketVersioning Enabled works and Suspended is refused
  native  after the test wrote docs/report.txt natively and removed docs/native.txt with the
          CLI: S3 sees the native version and the native delete's marker"""
import sys

from botocore.exceptions import ClientError

from client import client, fails

step, endpoint, key, secret = sys.argv[1:5]
s3 = client(endpoint, key, secret)


def versions(prefix, **kwargs):
    """(key, version id, is latest) of versions and markers, the markers flagged."""
    listed = s3.list_object_versions(Bucket="docs", Prefix=prefix, **kwargs)
    found = [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listed.get("Versions", [])]
    found += [(m["Key"], m["VersionId"], m["IsLatest"], "marker") for m in listed.get("DeleteMarkers", [])]
    return found, listed


def refused(call, **kwargs):
    """call(...) must fail; returns (code, status, headers)."""
    try:
        call(**kwargs)
    except ClientError as e:
        meta = e.response["ResponseMetadata"]
        return e.response["Error"]["Code"], meta["HTTPStatusCode"], meta["HTTPHeaders"]
    raise AssertionError(f"{call} succeeded")


if step == "s3":
    s3.create_bucket(Bucket="docs")
    assert s3.get_bucket_versioning(Bucket="docs")["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket="docs", VersioningConfiguration={"Status": "Enabled"})
    assert fails("NotImplemented", s3.put_bucket_versioning, Bucket="docs",
                 VersioningConfiguration={"Status": "Suspended"}) == 501
    assert s3.get_bucket_versioning(Bucket="docs")["Status"] == "Enabled"
    print("ok versioning")

    first = s3.put_object(Bucket="docs", Key="report.txt", Body=b"draft")
    second = s3.put_object(Bucket="docs", Key="report.txt", Body=b"final")
    assert (first["VersionId"], second["VersionId"]) == ("1", "2"), (first, second)
    old = s3.get_object(Bucket="docs", Key="report.txt", VersionId="1")
    assert old["Body"].read() == b"draft" and old["VersionId"] == "1"
    assert s3.get_object(Bucket="docs", Key="report.txt")["Body"].read() == b"final"
    assert s3.head_object(Bucket="docs", Key="report.txt", VersionId="2")["ContentLength"] == 5
    fails("NoSuchVersion", s3.get_object, Bucket="docs", Key="report.txt", VersionId="99")
    fails("InvalidArgument", s3.get_object, Bucket="docs", Key="report.txt", VersionId="nope")
    found, listed = versions("report.txt")
    assert found == [("report.txt", "2", True), ("report.txt", "1", False)], found
    assert listed["Versions"][1]["ETag"] == first["ETag"], listed
    print("ok get-by-version")

    deleted = s3.delete_object(Bucket="docs", Key="report.txt")
    marker = deleted["VersionId"]
    assert deleted["DeleteMarker"] is True and marker.startswith("dm-"), deleted
    found, _ = versions("report.txt")
    assert found == [("report.txt", "2", False), ("report.txt", "1", False),
                     ("report.txt", marker, True, "marker")], found
    code, status, headers = refused(s3.get_object, Bucket="docs", Key="report.txt")
    assert (code, status, headers.get("x-amz-delete-marker")) == ("NoSuchKey", 404, "true"), headers
    assert headers.get("x-amz-version-id") == marker, headers
    _, status, headers = refused(s3.head_object, Bucket="docs", Key="report.txt")
    assert status == 404 and headers.get("x-amz-delete-marker") == "true", headers
    code, status, _ = refused(s3.get_object, Bucket="docs", Key="report.txt", VersionId=marker)
    assert (code, status) == ("MethodNotAllowed", 405), (code, status)
    assert s3.get_object(Bucket="docs", Key="report.txt", VersionId="1")["Body"].read() == b"draft"
    assert "Contents" not in s3.list_objects_v2(Bucket="docs", Prefix="report.txt")
    # A second delete keeps the one marker.
    assert s3.delete_object(Bucket="docs", Key="report.txt")["VersionId"] == marker
    back = s3.delete_object(Bucket="docs", Key="report.txt", VersionId=marker)
    assert back["DeleteMarker"] is True and back["VersionId"] == marker, back
    again = s3.get_object(Bucket="docs", Key="report.txt")
    assert again["Body"].read() == b"final" and again["VersionId"] == "2"
    print("ok delete-markers")

    gone = s3.delete_object(Bucket="docs", Key="report.txt", VersionId="1")
    assert gone["VersionId"] == "1" and "DeleteMarker" not in gone, gone
    fails("NoSuchVersion", s3.get_object, Bucket="docs", Key="report.txt", VersionId="1")
    found, _ = versions("report.txt")
    assert found == [("report.txt", "2", True)], found
    s3.delete_object(Bucket="docs", Key="report.txt", VersionId="1")  # a retry succeeds
    s3.delete_object(Bucket="docs", Key="report.txt", VersionId="null")
    fails("InvalidArgument", s3.delete_object, Bucket="docs", Key="report.txt", VersionId="x1")
    print("ok delete-version")

    for i in range(3):
        for body in (b"one", b"two"):
            s3.put_object(Bucket="docs", Key=f"paged/k{i}", Body=body)
    s3.delete_object(Bucket="docs", Key="paged/k1")
    whole, _ = versions("paged/")
    assert len(whole) == 7, whole
    seen, kwargs = [], {}
    for _ in range(20):
        page, listed = versions("paged/", MaxKeys=2, **kwargs)
        assert len(page) <= 2 and listed["MaxKeys"] == 2, listed
        seen += page
        if not listed["IsTruncated"]:
            break
        kwargs = {"KeyMarker": listed["NextKeyMarker"],
                  "VersionIdMarker": listed["NextVersionIdMarker"]}
    assert sorted(seen) == sorted(whole) and len(seen) == len(whole), (seen, whole)
    pages = s3.get_paginator("list_object_versions").paginate(
        Bucket="docs", Prefix="paged/", PaginationConfig={"PageSize": 3})
    paged = [v["VersionId"] for p in pages for v in p.get("Versions", []) + p.get("DeleteMarkers", [])]
    assert len(paged) == 7, paged
    grouped = s3.list_object_versions(Bucket="docs", Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["paged/"], grouped
    assert [v["Key"] for v in grouped["Versions"]] == ["report.txt"], grouped
    after = s3.list_object_versions(Bucket="docs", Prefix="paged/", KeyMarker="paged/k1")
    assert [v["Key"] for v in after["Versions"]] == ["paged/k2"] * 2, after
    print("ok paging")
elif step == "native":
    found, _ = versions("report.txt")
    assert found == [("report.txt", "3", True), ("report.txt", "2", False)], found
    native = s3.get_object(Bucket="docs", Key="report.txt", VersionId="3")
    assert native["Body"].read() == b"written natively"
    found, _ = versions("native.txt")
    assert [f[1:] for f in found if len(f) == 4][0][1:] == (True, "marker"), found
    assert [f[1:] for f in found if len(f) == 3] == [("1", False)], found
    code, status, _ = refused(s3.get_object, Bucket="docs", Key="native.txt")
    assert (code, status) == ("NoSuchKey", 404)
    print("ok native")
else:
    raise SystemExit(f"unknown step {step}")
