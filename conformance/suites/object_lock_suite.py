"""Object Lock and lifecycle with boto3 and aws-cli v2 (s3api): a bucket created with Object Lock, default
retention, COMPLIANCE and GOVERNANCE retention (extend only; bypass), legal hold, every refused delete a clear S3
error, and lifecycle rules stored and returned. Bytes of the protected versions are compared by sha256."""
from __future__ import annotations

import datetime
import hashlib
import json
import os

from conf_common import ENDPOINT, Suite, boto3_client, bucket_name, check, error_code, expect_equal, refused, run

suite = Suite("object-lock")
s3 = boto3_client("path")
B = bucket_name("lock", "boto3")
C = bucket_name("lock", "cli")
now = datetime.datetime.now(datetime.timezone.utc)
in_days = lambda d: (now + datetime.timedelta(days=d)).replace(microsecond=0)  # noqa: E731


def aws(*args: str) -> bytes:
    return run(["/usr/bin/aws", "--endpoint-url", ENDPOINT, "--region", "us-east-1", "--output", "json", *args],
               env={**os.environ, "AWS_ACCESS_KEY_ID": os.environ["CONF_ACCESS_KEY"], "AWS_SECRET_ACCESS_KEY": os.environ["CONF_SECRET_KEY"]}).stdout


data = os.urandom(200_000)
versions: dict[str, str] = {}

with suite.cell("create-bucket-with-object-lock"):
    s3.create_bucket(Bucket=B, ObjectLockEnabledForBucket=True)
    expect_equal(s3.get_bucket_versioning(Bucket=B)["Status"], "Enabled", "versioning")
    conf = s3.get_object_lock_configuration(Bucket=B)["ObjectLockConfiguration"]
    expect_equal(conf["ObjectLockEnabled"], "Enabled", "lock")
    refused(lambda: s3.put_bucket_versioning(Bucket=B, VersioningConfiguration={"Status": "Suspended"}), "InvalidBucketState")

with suite.cell("default-retention"):
    s3.put_object_lock_configuration(Bucket=B, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    vid = s3.put_object(Bucket=B, Key="default", Body=b"d")["VersionId"]
    head = s3.head_object(Bucket=B, Key="default", VersionId=vid)
    expect_equal(head["ObjectLockMode"], "GOVERNANCE", "mode")
    check(head["ObjectLockRetainUntilDate"] > now + datetime.timedelta(hours=23), "a day of retention")
    versions["default"] = vid

with suite.cell("compliance-refuses-every-delete"):
    vid = s3.put_object(Bucket=B, Key="evidence", Body=data, ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=in_days(2))["VersionId"]
    refused(lambda: s3.delete_object(Bucket=B, Key="evidence", VersionId=vid, BypassGovernanceRetention=True), "AccessDenied")
    res = s3.delete_objects(Bucket=B, BypassGovernanceRetention=True, Delete={"Objects": [{"Key": "evidence", "VersionId": vid}]})
    expect_equal([e["Code"] for e in res.get("Errors", [])], ["AccessDenied"], "DeleteObjects errors")
    refused(lambda: s3.put_object_retention(Bucket=B, Key="evidence", VersionId=vid, BypassGovernanceRetention=True,
                                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_days(1)}), "AccessDenied")
    s3.put_object_retention(Bucket=B, Key="evidence", VersionId=vid, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_days(3)})
    expect_equal(s3.get_object_retention(Bucket=B, Key="evidence", VersionId=vid)["Retention"]["RetainUntilDate"], in_days(3), "extended")
    got = s3.get_object(Bucket=B, Key="evidence", VersionId=vid)["Body"].read()
    expect_equal(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest(), "bytes")
    refused(lambda: s3.delete_bucket(Bucket=B), "BucketNotEmpty")

with suite.cell("governance-bypass"):
    vid = versions["default"]
    refused(lambda: s3.delete_object(Bucket=B, Key="default", VersionId=vid), "AccessDenied")
    s3.delete_object(Bucket=B, Key="default", VersionId=vid, BypassGovernanceRetention=True)
    refused(lambda: s3.head_object(Bucket=B, Key="default", VersionId=vid), "404")

with suite.cell("legal-hold"):
    vid = s3.put_object(Bucket=B, Key="held", Body=b"h", ObjectLockLegalHoldStatus="ON")["VersionId"]
    expect_equal(s3.get_object_legal_hold(Bucket=B, Key="held", VersionId=vid)["LegalHold"]["Status"], "ON", "hold")
    refused(lambda: s3.delete_object(Bucket=B, Key="held", VersionId=vid, BypassGovernanceRetention=True), "AccessDenied")
    s3.put_object_legal_hold(Bucket=B, Key="held", VersionId=vid, LegalHold={"Status": "OFF"})
    # The default GOVERNANCE retention still applies to it; the bypass lifts that.
    s3.delete_object(Bucket=B, Key="held", VersionId=vid, BypassGovernanceRetention=True)

with suite.cell("aws-cli-lock-and-lifecycle"):
    aws("s3api", "create-bucket", "--bucket", C, "--object-lock-enabled-for-bucket")
    out = json.loads(aws("s3api", "get-object-lock-configuration", "--bucket", C))
    expect_equal(out["ObjectLockConfiguration"]["ObjectLockEnabled"], "Enabled", "cli lock")
    aws("s3api", "put-object", "--bucket", C, "--key", "k", "--body", "/etc/hostname", "--object-lock-legal-hold-status", "ON")
    hold = json.loads(aws("s3api", "get-object-legal-hold", "--bucket", C, "--key", "k"))
    expect_equal(hold["LegalHold"]["Status"], "ON", "cli hold")
    rules = {"Rules": [{"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7},
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 30}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}]}
    aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", C, "--lifecycle-configuration", json.dumps(rules))
    got = json.loads(aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", C))
    expect_equal(got["Rules"], rules["Rules"], "lifecycle rules")
    aws("s3api", "delete-bucket-lifecycle", "--bucket", C)

with suite.cell("lifecycle-refuses-what-it-would-not-run"):
    refused(lambda: s3.put_bucket_lifecycle_configuration(Bucket=B, LifecycleConfiguration={"Rules": [
        {"ID": "t", "Status": "Enabled", "Filter": {"Prefix": ""}, "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}]}), "NotImplemented")
    refused(lambda: s3.get_bucket_lifecycle_configuration(Bucket=B), "NoSuchLifecycleConfiguration")

suite.finish()
