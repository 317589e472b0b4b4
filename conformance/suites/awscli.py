"""aws-cli conformance: `awscli.py CLIENT_NAME AWS_BINARY` (aws-cli v2 from Debian, aws-cli v1 from pip).

The v2 run moves the 1 GiB file through multipart; v1 uses CONF_MEDIUM_SIZE to keep the total runtime down.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import sys

from conf_common import (BIG_FILE, BIG_SIZE, ENDPOINT, UNICODE_KEYS, WORK, Suite, bucket_name, check, expect_equal,
                         random_file, run, sha256_file, tree_digest)

CLIENT, AWS = sys.argv[1], sys.argv[2]
suite = Suite(CLIENT)
ENV = {**os.environ, "AWS_ACCESS_KEY_ID": os.environ["CONF_ACCESS_KEY"],
       "AWS_SECRET_ACCESS_KEY": os.environ["CONF_SECRET_KEY"], "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_CONFIG_FILE": os.path.join(WORK, "aws-config"), "AWS_SHARED_CREDENTIALS_FILE": os.path.join(WORK, "none"),
       "AWS_PAGER": "", "PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"}
with open(ENV["AWS_CONFIG_FILE"], "w") as f:
    # signature_version s3v4: aws-cli v1 presigns with SigV2 by default, which Tessera refuses (SigV4 only); the
    # presign-sigv2-refused check below verifies that refusal is the right S3 error.
    f.write("[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n  signature_version = s3v4\n")
B = bucket_name(CLIENT, "t")


def aws(*args: str, check_rc: bool = True):  # type: ignore[no-untyped-def]
    return run([AWS, "--endpoint-url", ENDPOINT, *args], env=ENV, check_rc=check_rc)


def api(*args: str) -> dict:  # type: ignore[type-arg]
    out = aws("s3api", *args, "--output", "json").stdout.decode()
    return json.loads(out) if out.strip() else {}


def listing(prefix: str) -> list[str]:
    """Every key under prefix, in listing order (the CLI follows continuation tokens itself)."""
    data = api("list-objects-v2", "--bucket", B, "--prefix", prefix)
    return [o["Key"] for o in data.get("Contents", [])]


def utf8_sorted(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def expect_error(proc, code: str) -> None:  # type: ignore[no-untyped-def]
    err = proc.stderr.decode(errors="replace")
    check(proc.returncode != 0, f"expected {code}, the command succeeded")
    check(code in err, f"expected {code}, got: {err.strip()[-200:]}")


version = run([AWS, "--version"], env=ENV).stdout.decode().strip() or "?"
print(f"# {CLIENT}: {version}", flush=True)
tmp = os.path.join(WORK, CLIENT)
os.makedirs(tmp, exist_ok=True)
single = os.path.join(tmp, "single.bin")
single_sha = random_file(single, 7 * 1024 * 1024 + 123)  # below the CLI's 8 MiB multipart threshold
if CLIENT.endswith("v2") and BIG_FILE:
    big, big_size = BIG_FILE, os.path.getsize(BIG_FILE)
else:
    big, big_size = os.path.join(tmp, "big.bin"), BIG_SIZE
    random_file(big, big_size)
big_sha = sha256_file(big)

# ---- write phase ----
with suite.cell("mb") as info:
    aws("s3", "mb", f"s3://{B}")
    names = [b["Name"] for b in api("list-buckets")["Buckets"]]
    check(B in names, f"{B} missing from ListBuckets")

with suite.cell("cp-up-single") as info:
    aws("s3", "cp", single, f"s3://{B}/single.bin", "--only-show-errors")
    head = api("head-object", "--bucket", B, "--key", "single.bin")
    expect_equal(head["ContentLength"], os.path.getsize(single), "ContentLength")
    with open(single, "rb") as f:
        expect_equal(head["ETag"].strip('"'), hashlib.md5(f.read()).hexdigest(), "single-part ETag (MD5)")

with suite.cell("cp-up-multipart") as info:
    aws("s3", "cp", big, f"s3://{B}/big.bin", "--only-show-errors")
    head = api("head-object", "--bucket", B, "--key", "big.bin")
    expect_equal(head["ContentLength"], big_size, "ContentLength")
    parts = -(-big_size // (8 * 1024 * 1024))
    expect_equal(head["ETag"].strip('"').split("-")[-1], str(parts), "multipart ETag part count")
    info["detail"] = f"{big_size} bytes, {parts} parts"

sync_src = os.path.join(tmp, "sync-src")
rng = random.Random(7)
for i in range(24):
    random_file(os.path.join(sync_src, f"d{i % 3}", f"sub{i % 2}", f"f{i}.bin"), rng.randint(0, 300_000))
random_file(os.path.join(sync_src, "ünï cödé", "日本語.txt"), 1234)
with suite.cell("sync-up-delete") as info:
    aws("s3", "sync", sync_src, f"s3://{B}/sync/", "--delete", "--only-show-errors")
    want = utf8_sorted(["sync/" + k for k in tree_digest(sync_src)])
    expect_equal(listing("sync/"), want, "listing after sync up")
    # Change the tree: drop two files, add one, resize one; sync --delete must mirror it exactly.
    os.remove(os.path.join(sync_src, "d0", "sub0", "f0.bin"))
    os.remove(os.path.join(sync_src, "d1", "sub1", "f1.bin"))
    random_file(os.path.join(sync_src, "new", "added.bin"), 4096)
    random_file(os.path.join(sync_src, "d2", "sub0", "f2.bin"), 777)
    aws("s3", "sync", sync_src, f"s3://{B}/sync/", "--delete", "--only-show-errors")
    want = utf8_sorted(["sync/" + k for k in tree_digest(sync_src)])
    expect_equal(listing("sync/"), want, "listing after sync up --delete")
    info["detail"] = f"{len(want)} keys"

many_dir = os.path.join(tmp, "many")
many_keys = [f"k{i:04d}" for i in range(1005)] + [k.split("/", 1)[1] for k in UNICODE_KEYS]
for k in many_keys:
    p = os.path.join(many_dir, k)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(k.encode())
many_upload_ok = False
with suite.cell("cp-up-recursive") as info:
    aws("s3", "cp", "--recursive", many_dir, f"s3://{B}/many/", "--only-show-errors")
    many_upload_ok = True
    info["detail"] = f"{len(many_keys)} keys"

with open(single, "rb") as f:
    single_b64 = base64.b64encode(hashlib.sha256(f.read()).digest()).decode()
with suite.cell("put-object-checksum") as info:
    out = api("put-object", "--bucket", B, "--key", "cks.bin", "--body", single, "--checksum-algorithm", "SHA256")
    expect_equal(out.get("ChecksumSHA256"), single_b64, "PutObject ChecksumSHA256")

suite.tier(B)

# ---- read phase ----
with suite.cell("cp-down-single") as info:
    dst = os.path.join(tmp, "single.down")
    aws("s3", "cp", f"s3://{B}/single.bin", dst, "--only-show-errors")
    expect_equal(sha256_file(dst), single_sha, "sha256")

with suite.cell("cp-down-multipart") as info:
    dst = os.path.join(tmp, "big.down")
    aws("s3", "cp", f"s3://{B}/big.bin", dst, "--only-show-errors")
    expect_equal(sha256_file(dst), big_sha, "sha256")
    os.remove(dst)
    info["detail"] = f"{big_size} bytes"

sync_dst = os.path.join(tmp, "sync-dst")
with suite.cell("sync-down-delete") as info:
    random_file(os.path.join(sync_dst, "stray", "not-in-bucket.bin"), 10)
    aws("s3", "sync", f"s3://{B}/sync/", sync_dst, "--delete", "--only-show-errors")
    expect_equal(tree_digest(sync_dst), tree_digest(sync_src), "downloaded tree (paths and sha256)")

with suite.cell("ls-recursive-unicode") as info:
    check(many_upload_ok, "the recursive upload failed")
    out = aws("s3", "ls", "--recursive", f"s3://{B}/many/").stdout.decode("utf-8")
    got = [line.split(None, 3)[3] for line in out.splitlines() if line.strip()]
    expect_equal(got, utf8_sorted(["many/" + k for k in many_keys]), "aws s3 ls --recursive keys")
    down = os.path.join(tmp, "many-down")
    aws("s3", "cp", "--recursive", f"s3://{B}/many/unicode/", down, "--only-show-errors")
    expect_equal(tree_digest(down), tree_digest(os.path.join(many_dir, "unicode")), "unicode keys downloaded")
    info["detail"] = f"{len(got)} keys"

with suite.cell("presign-curl") as info:
    url = aws("s3", "presign", f"s3://{B}/single.bin", "--expires-in", "600").stdout.decode().strip()
    dst = os.path.join(tmp, "presigned.down")
    proc = run(["curl", "-s", "-o", dst, "-w", "%{http_code}", url])
    expect_equal(proc.stdout.decode(), "200", "HTTP status")
    expect_equal(sha256_file(dst), single_sha, "sha256")
    sig_at = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    bad = url[:sig_at] + ("0" if url[sig_at] != "0" else "1") + url[sig_at + 1:]
    proc = run(["curl", "-s", "-w", "\n%{http_code}", bad])
    body, status = proc.stdout.decode().rsplit("\n", 1)
    expect_equal(status, "403", "tampered signature status")
    check("SignatureDoesNotMatch" in body, f"tampered signature body: {body[:200]}")

if CLIENT.endswith("v1"):
    with suite.cell("presign-sigv2-refused") as info:
        sigv2_env = {**ENV, "AWS_CONFIG_FILE": os.path.join(WORK, "aws-config-default")}
        with open(sigv2_env["AWS_CONFIG_FILE"], "w") as f:
            f.write("[default]\nregion = us-east-1\n")
        url = run([AWS, "--endpoint-url", ENDPOINT, "s3", "presign", f"s3://{B}/single.bin"],
                  env=sigv2_env).stdout.decode().strip()
        check("Signature=" in url and "X-Amz-Signature" not in url, f"expected a SigV2 URL: {url[:120]}")
        proc = run(["curl", "-s", "-w", "\n%{http_code}", url])
        body, status = proc.stdout.decode().rsplit("\n", 1)
        expect_equal(status, "400", "SigV2 presigned GET status")
        check("<Code>InvalidRequest</Code>" in body and "AWS4-HMAC-SHA256" in body, f"body: {body[:200]}")
        info["detail"] = "SigV2 presign answered 400 InvalidRequest (use AWS4-HMAC-SHA256)"

with suite.cell("head-object-checksum") as info:
    head = api("head-object", "--bucket", B, "--key", "cks.bin", "--checksum-mode", "ENABLED")
    expect_equal(head.get("ChecksumSHA256"), single_b64, "HeadObject ChecksumSHA256")

with suite.cell("copy-object") as info:
    api("copy-object", "--bucket", B, "--key", "copy of/single.bin", "--copy-source", f"{B}/single.bin")
    dst = os.path.join(tmp, "copy.down")
    api("get-object", "--bucket", B, "--key", "copy of/single.bin", dst)
    expect_equal(sha256_file(dst), single_sha, "copied sha256")

with suite.cell("upload-part-copy") as info:
    up = api("create-multipart-upload", "--bucket", B, "--key", "upc.bin")["UploadId"]
    part_a = (0, 5 * 1024 * 1024 - 1)  # from the single-part object
    part_b = (1000, 1000 + 3_000_000 - 1)  # from the multipart object, across its part boundaries
    pa = api("upload-part-copy", "--bucket", B, "--key", "upc.bin", "--upload-id", up, "--part-number", "1",
             "--copy-source", f"{B}/single.bin", "--copy-source-range", f"bytes={part_a[0]}-{part_a[1]}")
    pb = api("upload-part-copy", "--bucket", B, "--key", "upc.bin", "--upload-id", up, "--part-number", "2",
             "--copy-source", f"{B}/big.bin", "--copy-source-range", f"bytes={part_b[0]}-{part_b[1]}")
    parts = {"Parts": [{"ETag": pa["CopyPartResult"]["ETag"], "PartNumber": 1},
                       {"ETag": pb["CopyPartResult"]["ETag"], "PartNumber": 2}]}
    api("complete-multipart-upload", "--bucket", B, "--key", "upc.bin", "--upload-id", up,
        "--multipart-upload", json.dumps(parts))
    expected = hashlib.sha256()
    with open(single, "rb") as f:
        expected.update(f.read(part_a[1] + 1))
    with open(big, "rb") as f:
        f.seek(part_b[0])
        expected.update(f.read(part_b[1] - part_b[0] + 1))
    dst = os.path.join(tmp, "upc.down")
    api("get-object", "--bucket", B, "--key", "upc.bin", dst)
    expect_equal(sha256_file(dst), expected.hexdigest(), "sha256 of the copied parts")

with suite.cell("delete-objects") as info:
    keys = ["sync/d0/sub1/f3.bin", "sync/d2/sub0/f2.bin", "never-existed.bin"]
    out = api("delete-objects", "--bucket", B, "--delete", json.dumps({"Objects": [{"Key": k} for k in keys]}))
    expect_equal(sorted(d["Key"] for d in out.get("Deleted", [])), sorted(keys), "Deleted")
    check(not out.get("Errors"), f"Errors: {out.get('Errors')}")
    left = listing("sync/")
    check(not set(keys) & set(left), "deleted keys still listed")

first = aws("s3api", "put-object", "--bucket", B, "--key", "cond.bin", "--body", single, "--if-none-match", "*",
            check_rc=False)
if first.returncode != 0 and b"Unknown options" in first.stderr:
    # Not a gateway result: the option does not exist in this client (S3 conditional writes date from 2024).
    suite.note("put-if-none-match", f"client has no --if-none-match option ({version.split()[0]})")
else:
    with suite.cell("put-if-none-match") as info:
        check(first.returncode == 0, f"first conditional put failed: {first.stderr.decode()[-200:]}")
        second = aws("s3api", "put-object", "--bucket", B, "--key", "cond.bin", "--body", single,
                     "--if-none-match", "*", check_rc=False)
        expect_error(second, "PreconditionFailed")

with suite.cell("rm-recursive") as info:
    aws("s3", "rm", "--recursive", f"s3://{B}/many/", "--only-show-errors")
    expect_equal(listing("many/"), [], "keys left under many/")
    check(len(listing("sync/")) > 0, "rm --recursive removed keys outside its prefix")

with suite.cell("err-NoSuchKey") as info:
    expect_error(aws("s3api", "get-object", "--bucket", B, "--key", "no/such/key", os.path.join(tmp, "x"),
                     check_rc=False), "NoSuchKey")
    expect_error(aws("s3", "cp", f"s3://{B}/no/such/key", os.path.join(tmp, "x"), check_rc=False), "404")

with suite.cell("err-NoSuchBucket") as info:
    expect_error(aws("s3", "ls", f"s3://{B}-missing", check_rc=False), "NoSuchBucket")
    expect_error(aws("s3api", "get-object", "--bucket", f"{B}-missing", "--key", "k", os.path.join(tmp, "x"),
                     check_rc=False), "NoSuchBucket")

shutil.rmtree(tmp, ignore_errors=True)
suite.finish()
