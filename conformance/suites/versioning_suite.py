"""S3 versioning with boto3 (paginators, managed transfers) and aws-cli v2 (s3api): versions, delete markers, the
null version while suspended, version-id reads, copies and tags, DeleteObjects with versions, and restoring an old
version by copying it onto its key. Bytes are compared by sha256 for every version read."""
from __future__ import annotations

import hashlib
import json
import os

from conf_common import ENDPOINT, WORK, Suite, boto3_client, bucket_name, check, error_code, expect_equal, refused, run

suite = Suite("versioning")
s3 = boto3_client("path")
B = bucket_name("ver", "boto3")
C = bucket_name("ver", "cli")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def body(key: str, version: str | None = None, bucket: str = B) -> bytes:
    args = {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}
    return s3.get_object(**args)["Body"].read()


written: dict[str, bytes] = {}

with suite.cell("enable-and-put-versions"):
    s3.create_bucket(Bucket=B)
    check("Status" not in s3.get_bucket_versioning(Bucket=B), "no status before versioning is set")
    s3.put_bucket_versioning(Bucket=B, VersioningConfiguration={"Status": "Enabled"})
    expect_equal(s3.get_bucket_versioning(Bucket=B)["Status"], "Enabled", "status")
    for i in range(3):
        data = os.urandom(1000 + i)
        vid = s3.put_object(Bucket=B, Key="model/weights.bin", Body=data)["VersionId"]
        written[vid] = data
    check(len(written) == 3, "three distinct version ids")

with suite.cell("get-by-version-id"):
    for vid, data in written.items():
        expect_equal(sha(body("model/weights.bin", vid)), sha(data), f"version {vid}")
        head = s3.head_object(Bucket=B, Key="model/weights.bin", VersionId=vid)
        expect_equal((head["ContentLength"], head["VersionId"]), (len(data), vid), "HEAD by version")
    refused(lambda: s3.get_object(Bucket=B, Key="model/weights.bin", VersionId="A" * 32), "NoSuchVersion")

with suite.cell("list-object-versions-paginator"):
    for i in range(7):
        s3.put_object(Bucket=B, Key=f"data/shard-{i:03d}", Body=b"a")
        s3.put_object(Bucket=B, Key=f"data/shard-{i:03d}", Body=b"bb")
    seen = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=B, Prefix="data/", PaginationConfig={"PageSize": 3}):
        seen += [(v["Key"], v["Size"], v["IsLatest"]) for v in page.get("Versions", [])]
    expect_equal(seen, [(f"data/shard-{i:03d}", size, size == 2) for i in range(7) for size in (2, 1)], "every version once, newest first")
    grouped = s3.list_object_versions(Bucket=B, Delimiter="/")
    expect_equal(sorted(p["Prefix"] for p in grouped.get("CommonPrefixes", [])), ["data/", "model/"], "common prefixes")

with suite.cell("delete-marker-and-undelete"):
    marker = s3.delete_object(Bucket=B, Key="model/weights.bin")
    check(marker.get("DeleteMarker") is True, "DeleteMarker in the answer")
    try:
        s3.get_object(Bucket=B, Key="model/weights.bin")
        raise AssertionError("GET of a deleted key succeeded")
    except s3.exceptions.NoSuchKey as err:
        expect_equal(err.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker"), "true", "x-amz-delete-marker")
    check("model/weights.bin" not in [o["Key"] for o in s3.list_objects_v2(Bucket=B).get("Contents", [])], "hidden from listings")
    markers = s3.list_object_versions(Bucket=B, Prefix="model/").get("DeleteMarkers", [])
    expect_equal([(m["VersionId"], m["IsLatest"]) for m in markers], [(marker["VersionId"], True)], "the marker is listed as latest")
    s3.delete_object(Bucket=B, Key="model/weights.bin", VersionId=marker["VersionId"])
    latest = list(written)[-1]
    expect_equal(sha(body("model/weights.bin")), sha(written[latest]), "undeleted: the newest version is back")

with suite.cell("restore-old-version-by-copy"):
    first = list(written)[0]
    out = s3.copy_object(Bucket=B, Key="model/weights.bin", CopySource={"Bucket": B, "Key": "model/weights.bin", "VersionId": first})
    expect_equal(out["CopySourceVersionId"], first, "copy source version")
    expect_equal(sha(body("model/weights.bin")), sha(written[first]), "the old bytes are the latest again")
    s3.put_object_tagging(Bucket=B, Key="model/weights.bin", VersionId=first, Tagging={"TagSet": [{"Key": "eval", "Value": "0.91"}]})
    expect_equal(s3.get_object_tagging(Bucket=B, Key="model/weights.bin", VersionId=first)["TagSet"], [{"Key": "eval", "Value": "0.91"}], "tags by version")

with suite.cell("delete-objects-with-versions"):
    versions = [v for v in s3.list_object_versions(Bucket=B, Prefix="data/shard-000")["Versions"]]
    out = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions] + [{"Key": "data/shard-001"}]})
    expect_equal(sorted(d.get("VersionId", "") for d in out["Deleted"] if d["Key"] == "data/shard-000"), sorted(v["VersionId"] for v in versions), "versions deleted")
    check(any(d["Key"] == "data/shard-001" and d.get("DeleteMarker") for d in out["Deleted"]), "a marker for the key without version")
    check("Versions" not in s3.list_object_versions(Bucket=B, Prefix="data/shard-000"), "shard-000 is gone for good")

with suite.cell("suspended-null-version"):
    s3.put_bucket_versioning(Bucket=B, VersioningConfiguration={"Status": "Suspended"})
    expect_equal(s3.put_object(Bucket=B, Key="s", Body=b"one")["VersionId"], "null", "null version id")
    s3.put_object(Bucket=B, Key="s", Body=b"two")
    expect_equal([v["VersionId"] for v in s3.list_object_versions(Bucket=B, Prefix="s")["Versions"]], ["null"], "one null version")
    expect_equal(body("s", "null"), b"two", "the null version holds the last write")
    refused(lambda: s3.delete_bucket(Bucket=B), "BucketNotEmpty")

with suite.cell("aws-cli-s3api-versions"):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": os.environ["CONF_ACCESS_KEY"], "AWS_SECRET_ACCESS_KEY": os.environ["CONF_SECRET_KEY"],
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.path.join(WORK, "none"), "AWS_SHARED_CREDENTIALS_FILE": os.path.join(WORK, "none"),
           "AWS_PAGER": ""}

    def api(*args: str) -> dict:  # type: ignore[type-arg]
        out = run(["/usr/bin/aws", "--endpoint-url", ENDPOINT, "s3api", *args, "--output", "json"], env=env).stdout.decode()
        return json.loads(out) if out.strip() else {}

    api("create-bucket", "--bucket", C)
    api("put-bucket-versioning", "--bucket", C, "--versioning-configuration", "Status=Enabled")
    expect_equal(api("get-bucket-versioning", "--bucket", C)["Status"], "Enabled", "status")
    src = os.path.join(WORK, "ver-cli.bin")
    vids = []
    for i in range(2):
        with open(src, "wb") as f:
            f.write(bytes([i]) * 5000)
        vids.append(api("put-object", "--bucket", C, "--key", "k", "--body", src)["VersionId"])
    listed = api("list-object-versions", "--bucket", C)
    expect_equal([v["VersionId"] for v in listed["Versions"]], list(reversed(vids)), "newest first")
    dst = os.path.join(WORK, "ver-cli-out.bin")
    api("get-object", "--bucket", C, "--key", "k", "--version-id", vids[0], dst)
    with open(dst, "rb") as f:
        expect_equal(f.read(), bytes([0]) * 5000, "the first version's bytes")

suite.finish()
