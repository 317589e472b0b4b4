"""S3 as users share it, with boto3 as three users and unsigned: bucket and object ACLs (grant headers, canned,
AccessControlPolicy documents), object owners in listings, Object Ownership controls, PublicAccessBlock, and browser
form uploads made by boto3's generate_presigned_post. The two extra users have no grants of the operator's: only
what the admin's bucket grants them lets them in."""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import uuid

import boto3
from botocore import UNSIGNED
from botocore.config import Config

from conf_common import ENDPOINT, REGION, Suite, boto3_client, bucket_name, check, error_code, expect_equal, refused

suite = Suite("sharing")
B = bucket_name("share", "acl")
# s3v4: botocore presigns (URLs and POST forms) with SigV2 for a custom endpoint otherwise, which S3 and Tessera refuse.
admin = boto3_client("path", signature_version="s3v4")


def client_for(key: str, secret: str):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id=key, aws_secret_access_key=secret, region_name=REGION,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}))


alice = client_for(os.environ["CONF_USER2_KEY"], os.environ["CONF_USER2_SECRET"])
bob = client_for(os.environ["CONF_USER3_KEY"], os.environ["CONF_USER3_SECRET"])
anon = boto3.client("s3", endpoint_url=ENDPOINT, region_name=REGION, config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}))


def body_of(c, key: str) -> bytes:  # type: ignore[no-untyped-def]
    return c.get_object(Bucket=B, Key=key)["Body"].read()


ids: dict[str, str] = {}

with suite.cell("owners-canonical-ids"):
    for name, c in (("admin", admin), ("alice", alice), ("bob", bob)):
        ids[name] = c.list_buckets()["Owner"]["ID"]
    check(len(set(ids.values())) == 3, "three distinct canonical ids")
    admin.create_bucket(Bucket=B)
    expect_equal(admin.get_bucket_acl(Bucket=B)["Owner"]["ID"], ids["admin"], "bucket owner")

with suite.cell("bucket-acl-grant-headers"):
    admin.put_bucket_acl(Bucket=B, GrantFullControl=f'id="{ids["admin"]}"', GrantRead=f'id="{ids["alice"]}"', GrantWrite=f'id="{ids["alice"]}"')
    alice.put_object(Bucket=B, Key="from-alice", Body=b"alice's bytes")
    expect_equal([o["Key"] for o in alice.list_objects_v2(Bucket=B).get("Contents", [])], ["from-alice"], "alice lists")
    refused(lambda: bob.list_objects_v2(Bucket=B), "AccessDenied")
    refused(lambda: bob.put_object(Bucket=B, Key="from-bob", Body=b"x"), "AccessDenied")
    refused(lambda: alice.get_bucket_acl(Bucket=B), "AccessDenied")

with suite.cell("object-owner-in-listings"):
    admin.put_object(Bucket=B, Key="from-admin", Body=b"admin's bytes")
    v1 = {o["Key"]: o["Owner"]["ID"] for o in admin.list_objects(Bucket=B)["Contents"]}
    expect_equal(v1, {"from-admin": ids["admin"], "from-alice": ids["alice"]}, "ListObjects v1 owners")
    v2 = {o["Key"]: o["Owner"]["ID"] for o in admin.list_objects_v2(Bucket=B, FetchOwner=True)["Contents"]}
    expect_equal(v2, v1, "ListObjectsV2 fetch-owner owners")
    check(all("Owner" not in o for o in admin.list_objects_v2(Bucket=B)["Contents"]), "no Owner without fetch-owner")
    expect_equal(alice.get_object_acl(Bucket=B, Key="from-alice")["Owner"]["ID"], ids["alice"], "GetObjectAcl owner")

with suite.cell("object-acl-document"):
    refused(lambda: bob.get_object(Bucket=B, Key="from-alice"), "AccessDenied")
    alice.put_object_acl(Bucket=B, Key="from-alice", AccessControlPolicy={
        "Owner": {"ID": ids["alice"]},
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": ids["alice"]}, "Permission": "FULL_CONTROL"},
                   {"Grantee": {"Type": "CanonicalUser", "ID": ids["bob"]}, "Permission": "READ"}]})
    expect_equal(body_of(bob, "from-alice"), b"alice's bytes", "bob reads the granted object")
    refused(lambda: bob.get_object(Bucket=B, Key="from-admin"), "AccessDenied")
    refused(lambda: bob.put_object_acl(Bucket=B, Key="from-alice", ACL="public-read"), "AccessDenied")
    grants = {(g["Grantee"].get("ID"), g["Permission"]) for g in alice.get_object_acl(Bucket=B, Key="from-alice")["Grants"]}
    expect_equal(grants, {(ids["alice"], "FULL_CONTROL"), (ids["bob"], "READ")}, "grants read back")
    refused(lambda: alice.put_object_acl(Bucket=B, Key="from-alice", GrantRead='emailAddress="x@example.com"'), "UnresolvableGrantByEmailAddress")

with suite.cell("canned-public-read-object"):
    admin.put_object(Bucket=B, Key="public", Body=b"for everyone", ACL="public-read")
    expect_equal(body_of(anon, "public"), b"for everyone", "unsigned read")
    with urllib.request.urlopen(f"{ENDPOINT}/{B}/public") as res:
        expect_equal(res.read(), b"for everyone", "plain HTTP read")
    refused(lambda: anon.get_object(Bucket=B, Key="from-admin"), "AccessDenied")
    refused(lambda: anon.put_object(Bucket=B, Key="anon", Body=b"x"), "AccessDenied")

with suite.cell("public-access-block-vs-acls"):
    admin.put_public_access_block(Bucket=B, PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True})
    refused(lambda: admin.put_object(Bucket=B, Key="public-2", Body=b"x", ACL="public-read"), "AccessDenied")
    refused(lambda: anon.get_object(Bucket=B, Key="public"), "AccessDenied")
    admin.delete_public_access_block(Bucket=B)
    expect_equal(body_of(anon, "public"), b"for everyone", "readable again")

with suite.cell("ownership-controls"):
    refused(lambda: admin.get_bucket_ownership_controls(Bucket=B), "OwnershipControlsNotFoundError")
    enforce = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    refused(lambda: admin.put_bucket_ownership_controls(Bucket=B, OwnershipControls=enforce), "InvalidBucketAclWithObjectOwnership")
    admin.put_bucket_acl(Bucket=B, ACL="private")
    admin.put_bucket_ownership_controls(Bucket=B, OwnershipControls=enforce)
    expect_equal(admin.get_bucket_ownership_controls(Bucket=B)["OwnershipControls"]["Rules"], enforce["Rules"], "read back")
    refused(lambda: admin.put_object(Bucket=B, Key="x", Body=b"x", ACL="public-read"), "AccessControlListNotSupported")
    refused(lambda: bob.get_object(Bucket=B, Key="from-alice"), "AccessDenied")
    check({o["Owner"]["ID"] for o in admin.list_objects(Bucket=B)["Contents"]} == {ids["admin"]}, "the bucket owner owns all")
    admin.delete_bucket_ownership_controls(Bucket=B)
    expect_equal(body_of(bob, "from-alice"), b"alice's bytes", "ACLs count again")


def post_form(url: str, fields: dict[str, str], data: bytes, filename: str = "f.bin") -> tuple[int, bytes, dict[str, str]]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode() + data + f"\r\n--{boundary}--\r\n".encode())
    req = urllib.request.Request(url, data=b"".join(parts), method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req) as res:
            return res.status, res.read(), dict(res.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


with suite.cell("presigned-post-upload"):
    data = os.urandom(1_500_000)
    form = admin.generate_presigned_post(B, "forms/${filename}", Fields={"success_action_status": "201"},
                                         Conditions=[{"success_action_status": "201"}, ["starts-with", "$key", "forms/"],
                                                     ["content-length-range", 1, 2_000_000]], ExpiresIn=300)
    status, body, headers = post_form(form["url"], form["fields"], data, "sample.bin")
    expect_equal(status, 201, "status")
    check(b"<Key>forms/sample.bin</Key>" in body, "PostResponse names the key")
    expect_equal(hashlib.sha256(body_of(admin, "forms/sample.bin")).hexdigest(), hashlib.sha256(data).hexdigest(), "sha256")
    status, body, _ = post_form(form["url"], form["fields"], os.urandom(2_000_001), "big.bin")
    expect_equal(status, 400, "too large")
    check(b"<Code>EntityTooLarge</Code>" in body, "EntityTooLarge")
    status, body, _ = post_form(form["url"], {**form["fields"], "key": "elsewhere/x"}, b"x")
    expect_equal(status, 403, "key outside the policy")
    refused(lambda: admin.head_object(Bucket=B, Key="elsewhere/x"), "404")

with suite.cell("presigned-post-needs-write"):
    form = alice.generate_presigned_post(B, "by-alice", ExpiresIn=300)
    status, body, _ = post_form(form["url"], form["fields"], b"x")
    expect_equal(status, 403, "alice may no longer write")
    check(b"<Code>AccessDenied</Code>" in body, "AccessDenied")

with suite.cell("presigned-post-sigv2-refused"):
    v2 = boto3_client("path").generate_presigned_post(B, "v2-form", ExpiresIn=300)
    check("AWSAccessKeyId" in v2["fields"], "botocore's default form is SigV2")
    status, body, _ = post_form(v2["url"], v2["fields"], b"x")
    expect_equal(status, 400, "status")
    check(b"<Code>InvalidRequest</Code>" in body and b"AWS4-HMAC-SHA256" in body, "the SigV2 refusal S3 gives")

P = bucket_name("share", "edge")


def crc32_b64(data: bytes) -> str:
    import base64
    import zlib
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


with suite.cell("bucket-policy-and-deny"):
    import json
    admin.create_bucket(Bucket=P)
    admin.put_object(Bucket=P, Key="open/a", Body=b"open")
    admin.put_object(Bucket=P, Key="closed/b", Body=b"closed")
    admin.put_bucket_policy(Bucket=P, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{P}/*"},
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{P}",
         "Condition": {"StringLike": {"s3:prefix": "open/*"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{P}/closed/*"}]}))
    expect_equal(anon.get_object(Bucket=P, Key="open/a")["Body"].read(), b"open", "anonymous read")
    expect_equal([o["Key"] for o in anon.list_objects_v2(Bucket=P, Prefix="open/")["Contents"]], ["open/a"], "list under the prefix")
    refused(lambda: anon.list_objects_v2(Bucket=P), "AccessDenied")
    refused(lambda: admin.get_object(Bucket=P, Key="closed/b"), "AccessDenied")
    expect_equal(admin.get_bucket_policy_status(Bucket=P)["PolicyStatus"]["IsPublic"], True, "policy status")
    refused(lambda: admin.put_bucket_policy(Bucket=P, Policy="{not json"), "MalformedPolicy")
    admin.delete_bucket_policy(Bucket=P)
    refused(lambda: anon.get_object(Bucket=P, Key="open/a"), "AccessDenied")

with suite.cell("owners-and-expected-owner"):
    refused(lambda: alice.create_bucket(Bucket=P), "AccessDenied")  # no grant to create buckets but her own
    alice.create_bucket(Bucket="conf-alice-own")
    refused(lambda: admin.create_bucket(Bucket="conf-alice-own"), "BucketAlreadyExists")
    alice.create_bucket(Bucket="conf-alice-own")  # the owner's own, in us-east-1: 200
    admin.create_bucket(Bucket=P)
    admin.head_object(Bucket=P, Key="open/a", ExpectedBucketOwner=ids["admin"])
    refused(lambda: admin.head_object(Bucket=P, Key="open/a", ExpectedBucketOwner=ids["bob"]), "403")
    page = admin.list_buckets(MaxBuckets=1, Prefix="share-")
    expect_equal(len(page["Buckets"]), 1, "one bucket per page")
    check("ContinuationToken" in page, "a continuation token")
    rest = admin.list_buckets(MaxBuckets=10, Prefix="share-", ContinuationToken=page["ContinuationToken"])
    check(page["Buckets"][0]["Name"] not in [b["Name"] for b in rest["Buckets"]], "the next page goes on")

with suite.cell("cors"):
    admin.put_bucket_cors(Bucket=P, CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["*"], "MaxAgeSeconds": 600}]})
    expect_equal(admin.get_bucket_cors(Bucket=P)["CORSRules"][0]["AllowedMethods"], ["GET", "PUT"], "rules")
    req = urllib.request.Request(f"{ENDPOINT}/{P}/open/a", method="OPTIONS", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "PUT"})
    with urllib.request.urlopen(req) as res:
        expect_equal(res.headers.get("Access-Control-Allow-Origin"), "https://app.example", "preflight")
    req = urllib.request.Request(f"{ENDPOINT}/{P}/open/a", method="OPTIONS", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    try:
        urllib.request.urlopen(req)
        raise AssertionError("a preflight from another origin was allowed")
    except urllib.error.HTTPError as err:
        expect_equal(err.code, 403, "other origin")
    admin.delete_bucket_cors(Bucket=P)
    refused(lambda: admin.get_bucket_cors(Bucket=P), "NoSuchCORSConfiguration")

with suite.cell("checksums-baddigest-and-full-object"):
    refused(lambda: admin.put_object(Bucket=P, Key="bad", Body=b"body", ChecksumCRC32=crc32_b64(b"other")), "BadDigest")
    refused(lambda: admin.head_object(Bucket=P, Key="bad"), "404")
    parts_data = [os.urandom(5 * 1024 * 1024), os.urandom(1234)]
    up = admin.create_multipart_upload(Bucket=P, Key="full", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    parts = []
    for i, d in enumerate(parts_data, 1):
        r = admin.upload_part(Bucket=P, Key="full", UploadId=up["UploadId"], PartNumber=i, Body=d, ChecksumCRC32=crc32_b64(d))
        parts.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    refused(lambda: admin.upload_part(Bucket=P, Key="full", UploadId=up["UploadId"], PartNumber=3, Body=b"x", ChecksumCRC32=crc32_b64(b"y")), "BadDigest")
    done = admin.complete_multipart_upload(Bucket=P, Key="full", UploadId=up["UploadId"], MultipartUpload={"Parts": parts})
    expect_equal(done.get("ChecksumCRC32"), crc32_b64(b"".join(parts_data)), "whole-object CRC32")
    again = admin.complete_multipart_upload(Bucket=P, Key="full", UploadId=up["UploadId"], MultipartUpload={"Parts": parts})
    expect_equal(again["ETag"], done["ETag"], "a retried Complete answers the same ETag")
    head = admin.head_object(Bucket=P, Key="full", PartNumber=2)
    expect_equal((head["ContentLength"], head["PartsCount"]), (1234, 2), "HEAD ?partNumber")
    refused(lambda: admin.get_object(Bucket=P, Key="full", PartNumber=3), "InvalidPartNumber")
    attrs = admin.get_object_attributes(Bucket=P, Key="full", ObjectAttributes=["ETag", "ObjectParts", "ObjectSize", "Checksum"], MaxParts=1)
    expect_equal((attrs["ObjectSize"], attrs["ObjectParts"]["TotalPartsCount"], len(attrs["ObjectParts"]["Parts"])), (len(parts_data[0]) + 1234, 2, 1), "attributes")

with suite.cell("tagging-and-metadata-edges"):
    # (boto3 refuses non-ASCII metadata itself; that edge is checked with curl and the JS SDK in test/s3-edges.test.ts.)
    admin.put_object(Bucket=P, Key="tagged", Body=b"x", Tagging="zeta=1&alpha=2")
    expect_equal([t["Key"] for t in admin.get_object_tagging(Bucket=P, Key="tagged")["TagSet"]], ["alpha", "zeta"], "tags in key order")
    admin.put_bucket_tagging(Bucket=P, Tagging={"TagSet": [{"Key": "team", "Value": "vision"}]})
    expect_equal(admin.get_bucket_tagging(Bucket=P)["TagSet"], [{"Key": "team", "Value": "vision"}], "bucket tagging")
    admin.delete_bucket_tagging(Bucket=P)
    refused(lambda: admin.get_bucket_tagging(Bucket=P), "NoSuchTagSet")
    expect_equal(admin.list_objects_v2(Bucket=P, ContinuationToken="", MaxKeys=1)["KeyCount"], 1, "empty continuation token is the first page")
    refused(lambda: admin.upload_part_copy(Bucket=P, Key="cp", UploadId=admin.create_multipart_upload(Bucket=P, Key="cp")["UploadId"], PartNumber=1,
                                           CopySource={"Bucket": P, "Key": "tagged"}, CopySourceRange="bytes=0-99"), "InvalidRange")

suite.finish()
