"""boto3 conformance: managed transfers (parallel multipart up, parallel ranged down), 5,000-key pagination with
delimiters, presigned GET/PUT, copies, DeleteObjects, ranges, RestoreObject, path-style and virtual-hosted style."""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import time
import urllib.error
import urllib.request

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from conf_common import (BIG_FILE, BIG_SIZE, MODE, UNICODE_KEYS, WORK, Suite, boto3_client, bucket_name, check,
                         error_code, expect_equal, random_file, sha256_bytes, sha256_file)

suite = Suite("boto3")
print(f"# boto3: boto3 {boto3.__version__}", flush=True)
s3 = boto3_client("path", max_pool_connections=40)
B = bucket_name("boto3", "t")
tmp = os.path.join(WORK, "boto3")
os.makedirs(tmp, exist_ok=True)
MIB = 1024 * 1024
PARALLEL = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=16 * MIB, max_concurrency=8)

big = BIG_FILE if BIG_FILE else os.path.join(tmp, "big.bin")
if not BIG_FILE:
    random_file(big, BIG_SIZE)
big_sha = sha256_file(big)
mid = os.path.join(tmp, "mid.bin")
random_file(mid, 40 * MIB + 17)  # spans two 32 MiB cold segments
with open(mid, "rb") as f:
    mid_bytes = f.read()


def expect_client_error(fn, code: str, status: int) -> None:  # type: ignore[no-untyped-def]
    try:
        fn()
    except ClientError as err:
        expect_equal(error_code(err), (code, status), "error (code, HTTP status)")
        return
    raise AssertionError(f"expected {code}, the call succeeded")


def tier_header(key: str) -> str:
    return s3.head_object(Bucket=B, Key=key)["ResponseMetadata"]["HTTPHeaders"].get("x-tessera-tier", "")


# ---- write phase ----
with suite.cell("create-bucket"):
    s3.create_bucket(Bucket=B)
    s3.head_bucket(Bucket=B)

with suite.cell("upload_file-multipart-parallel") as info:
    s3.upload_file(big, B, "big.bin", Config=PARALLEL)
    head = s3.head_object(Bucket=B, Key="big.bin")
    expect_equal(head["ContentLength"], os.path.getsize(big), "ContentLength")
    parts = -(-os.path.getsize(big) // (16 * MIB))
    check(head["ETag"].strip('"').endswith(f"-{parts}"), f"ETag {head['ETag']} is not a {parts}-part ETag")
    info["detail"] = f"{os.path.getsize(big)} bytes"

with suite.cell("put_object"):
    s3.put_object(Bucket=B, Key="mid.bin", Body=mid_bytes)
    s3.put_object(Bucket=B, Key="restore.bin", Body=mid_bytes[:5 * MIB])  # read by nothing before restore_object
    for k in UNICODE_KEYS:
        s3.put_object(Bucket=B, Key=k, Body=k.encode())

# 5,000 keys in the warm run; 1,200 (still past a 1,000-key page) in the evicted run: listings come from the
# metadata store whatever the tier, and each small PUT pays 6 shard fsyncs, so the second 5,000 would only add minutes.
N_KEYS, N_DIRS = (5000 if MODE == "warm" else 1200), 50
page_keys = [f"pg/d{i % N_DIRS:02d}/k{i:05d}" for i in range(N_KEYS)]
with suite.cell("put-many-keys") as info:
    started = time.monotonic()
    with cf.ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=B, Key=k, Body=k.encode()), page_keys))
    info["detail"] = f"{N_KEYS} keys, {N_KEYS / (time.monotonic() - started):.0f} PUT/s"

tiered = suite.tier(B)

# ---- read phase ----
with suite.cell("tier-state") as info:
    check(tiered, "tessera warm/evict failed")
    want = "hot" if MODE == "warm" else "cold"
    for k in ("big.bin", "mid.bin", "restore.bin", page_keys[0]):
        expect_equal(tier_header(k), want, f"x-tessera-tier of {k}")
    info["detail"] = want

with suite.cell("download_file-ranged-parallel") as info:
    dst = os.path.join(tmp, "big.down")
    s3.download_file(B, "big.bin", dst, Config=PARALLEL)
    expect_equal(sha256_file(dst), big_sha, "sha256")
    os.remove(dst)

with suite.cell("get_object-range") as info:
    n = len(mid_bytes)
    seg = 32 * MIB
    cases = [("bytes=0-0", 0, 1), ("bytes=100-199", 100, 200), (f"bytes=-50", n - 50, n), ("bytes=1000-", 1000, n),
             (f"bytes={seg - 100}-{seg + 99}", seg - 100, seg + 100), (f"bytes={n - 10}-{n + 1000}", n - 10, n)]
    for spec, start, end in cases:
        r = s3.get_object(Bucket=B, Key="mid.bin", Range=spec)
        body = r["Body"].read()
        expect_equal(r["ResponseMetadata"]["HTTPStatusCode"], 206, f"{spec} status")
        expect_equal(r["ContentRange"], f"bytes {start}-{end - 1}/{n}", f"{spec} Content-Range")
        check(body == mid_bytes[start:end], f"{spec}: bytes differ")
    expect_client_error(lambda: s3.get_object(Bucket=B, Key="mid.bin", Range=f"bytes={n + 5}-"), "InvalidRange", 416)
    info["detail"] = f"{len(cases)} ranges + 416"

with suite.cell("get_object-unicode-keys"):
    for k in UNICODE_KEYS:
        expect_equal(s3.get_object(Bucket=B, Key=k)["Body"].read(), k.encode(), f"body of {k!r}")
    got = [o["Key"] for o in s3.list_objects_v2(Bucket=B, Prefix="unicode/")["Contents"]]
    expect_equal(got, sorted(UNICODE_KEYS, key=lambda k: k.encode()), "unicode listing (UTF-8 byte order)")

with suite.cell("paginate-all-keys") as info:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=B, Prefix="pg/", PaginationConfig={"PageSize": 1000})
    got, n_pages = [], 0
    for page in pages:
        n_pages += 1
        got.extend(o["Key"] for o in page.get("Contents", []))
    expect_equal(got, sorted(page_keys), "ListObjectsV2 keys over all pages")
    expect_equal(n_pages, -(-N_KEYS // 1000), "pages")
    info["detail"] = f"{len(got)} keys / {n_pages} pages"

with suite.cell("paginate-delimiter") as info:
    want_dirs = [f"pg/d{i:02d}/" for i in range(N_DIRS)]
    for op in ("list_objects_v2", "list_objects"):
        prefixes, contents = [], []
        for page in s3.get_paginator(op).paginate(Bucket=B, Prefix="pg/", Delimiter="/",
                                                  PaginationConfig={"PageSize": 7}):
            prefixes.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
            contents.extend(page.get("Contents", []))
        expect_equal(prefixes, want_dirs, f"{op} CommonPrefixes over pages of 7")
        expect_equal(contents, [], f"{op} Contents beside the prefixes")
    inside = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=B, Prefix="pg/d07/", Delimiter="/")
              for o in p.get("Contents", [])]
    expect_equal(inside, sorted(k for k in page_keys if k.startswith("pg/d07/")), "keys of one directory")
    top = s3.list_objects_v2(Bucket=B, Delimiter="/")
    expect_equal([p["Prefix"] for p in top.get("CommonPrefixes", [])], ["pg/", "unicode/"], "top-level prefixes")
    info["detail"] = f"{len(prefixes)} prefixes"

# Presigned URLs need signature_version="s3v4": botocore's default here signs query strings with SigV2, which Tessera
# refuses exactly like Amazon S3 does for buckets made since June 2020 (checked below, presign-sigv2-refused).
s3v4 = boto3_client("path", signature_version="s3v4")
with suite.cell("presign-sigv2-refused") as info:
    url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "mid.bin"}, ExpiresIn=600)
    check("AWSAccessKeyId=" in url, f"botocore's default presign is SigV4 now: {url[:100]}")
    try:
        urllib.request.urlopen(url)
        raise AssertionError("a SigV2 presigned URL was accepted")
    except urllib.error.HTTPError as err:
        body = err.read().decode(errors="replace")
        expect_equal(err.code, 400, "SigV2 presigned GET status")
        check("<Code>InvalidRequest</Code>" in body and "AWS4-HMAC-SHA256" in body, f"body: {body[:200]}")

with suite.cell("presigned-put-get") as info:
    payload = os.urandom(3 * MIB + 5)
    put_url = s3v4.generate_presigned_url("put_object", Params={"Bucket": B, "Key": "presigned/obj"}, ExpiresIn=600)
    req = urllib.request.Request(put_url, data=payload, method="PUT")
    with urllib.request.urlopen(req) as resp:
        expect_equal(resp.status, 200, "presigned PUT status")
    get_url = s3v4.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "presigned/obj"}, ExpiresIn=600)
    with urllib.request.urlopen(get_url) as resp:
        expect_equal(sha256_bytes(resp.read()), sha256_bytes(payload), "presigned GET sha256")
    short = s3v4.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "presigned/obj"}, ExpiresIn=1)
    time.sleep(2.1)
    try:
        urllib.request.urlopen(short)
        raise AssertionError("an expired presigned URL was accepted")
    except urllib.error.HTTPError as err:
        body = err.read().decode(errors="replace")
        expect_equal(err.code, 403, "expired presigned URL status")
        check("AccessDenied" in body, f"expired URL body: {body[:200]}")

with suite.cell("copy") as info:
    s3.copy({"Bucket": B, "Key": "mid.bin"}, B, "copies/managed.bin", Config=PARALLEL)  # UploadPartCopy parts
    expect_equal(sha256_bytes(s3.get_object(Bucket=B, Key="copies/managed.bin")["Body"].read()),
                 sha256_bytes(mid_bytes), "managed copy sha256")
    s3.copy_object(Bucket=B, Key="copies/replaced.bin", CopySource={"Bucket": B, "Key": UNICODE_KEYS[3]},
                   MetadataDirective="REPLACE", Metadata={"purpose": "conformance"}, ContentType="text/plain")
    got = s3.get_object(Bucket=B, Key="copies/replaced.bin")
    expect_equal(got["Body"].read(), UNICODE_KEYS[3].encode(), "copy_object body (unicode source key)")
    expect_equal(got["Metadata"], {"purpose": "conformance"}, "replaced metadata")
    expect_equal(got["ContentType"], "text/plain", "replaced Content-Type")

with suite.cell("delete_objects") as info:
    doomed = sorted(page_keys)[:1000]  # the most one DeleteObjects request may carry
    out = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": k} for k in doomed]})
    expect_equal(sorted(d["Key"] for d in out.get("Deleted", [])), doomed, "Deleted keys")
    check(not out.get("Errors"), f"Errors: {out.get('Errors')}")
    left = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=B, Prefix="pg/")
            for o in p.get("Contents", [])]
    expect_equal(left, sorted(page_keys)[1000:], "keys left after DeleteObjects")
    quiet = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": "pg/none"}], "Quiet": True})
    check(not quiet.get("Deleted") and not quiet.get("Errors"), f"Quiet reply not empty: {quiet}")

with suite.cell("restore_object") as info:
    before = tier_header("restore.bin")
    expect_equal(before, "hot" if MODE == "warm" else "cold", "tier before restore")
    r = s3.restore_object(Bucket=B, Key="restore.bin", RestoreRequest={"Days": 1})
    status = r["ResponseMetadata"]["HTTPStatusCode"]
    # S3: 202 when a restore starts, 200 when the object is already restored.
    expect_equal(status, 200 if before == "hot" else 202, "RestoreObject status")
    deadline = time.monotonic() + 120
    while True:
        head = s3.head_object(Bucket=B, Key="restore.bin")
        if head.get("Restore") == 'ongoing-request="false"':
            break
        check(time.monotonic() < deadline, f"not restored after 120 s: Restore={head.get('Restore')!r}")
        time.sleep(0.5)
    expect_equal(tier_header("restore.bin"), "hot", "tier after restore")
    expect_equal(sha256_bytes(s3.get_object(Bucket=B, Key="restore.bin")["Body"].read()),
                 sha256_bytes(mid_bytes[:5 * MIB]), "sha256 after restore")
    info["detail"] = f"{before} -> hot, status {status}"

with suite.cell("put-if-none-match"):
    s3.put_object(Bucket=B, Key="cond/once", Body=b"first", IfNoneMatch="*")
    expect_client_error(lambda: s3.put_object(Bucket=B, Key="cond/once", Body=b"second", IfNoneMatch="*"),
                        "PreconditionFailed", 412)
    expect_equal(s3.get_object(Bucket=B, Key="cond/once")["Body"].read(), b"first", "body after the refused put")

for style in ("path", "virtual"):
    with suite.cell(f"{style}-style") as info:
        client = s3 if style == "path" else boto3_client("virtual")
        sb = bucket_name("boto3", style[:4])
        client.create_bucket(Bucket=sb)
        body = os.urandom(100_000)
        client.put_object(Bucket=sb, Key="dir/obj one", Body=body)
        expect_equal(sha256_bytes(client.get_object(Bucket=sb, Key="dir/obj one")["Body"].read()), sha256_bytes(body),
                     "sha256")
        expect_equal([o["Key"] for o in client.list_objects_v2(Bucket=sb)["Contents"]], ["dir/obj one"], "listing")
        expect_client_error(lambda: client.get_object(Bucket=sb, Key="missing"), "NoSuchKey", 404)
        client.delete_object(Bucket=sb, Key="dir/obj one")
        client.delete_bucket(Bucket=sb)
        expect_client_error(lambda: client.head_bucket(Bucket=sb), "404", 404)
        info["detail"] = client.meta.endpoint_url

with suite.cell("err-NoSuchKey"):
    expect_client_error(lambda: s3.get_object(Bucket=B, Key="no/such/key"), "NoSuchKey", 404)
    expect_client_error(lambda: s3.head_object(Bucket=B, Key="no/such/key"), "404", 404)
    expect_client_error(lambda: s3.copy_object(Bucket=B, Key="x", CopySource={"Bucket": B, "Key": "no/such"}),
                        "NoSuchKey", 404)

with suite.cell("err-NoSuchBucket"):
    expect_client_error(lambda: s3.get_object(Bucket=B + "-missing", Key="k"), "NoSuchBucket", 404)
    expect_client_error(lambda: s3.list_objects_v2(Bucket=B + "-missing"), "NoSuchBucket", 404)
    expect_client_error(lambda: s3.put_object(Bucket=B + "-missing", Key="k", Body=b"x"), "NoSuchBucket", 404)

suite.finish()
