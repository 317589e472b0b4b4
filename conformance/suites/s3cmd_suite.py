"""s3cmd conformance (signature v4, path style): mb, put/get single + multipart, ls, sync both ways, del, errors."""
from __future__ import annotations

import os
import random
import shutil
from urllib.parse import urlparse

from conf_common import (ACCESS_KEY, ENDPOINT, SECRET_KEY, UNICODE_KEYS, WORK, Suite, boto3_client, bucket_name, check,
                         expect_equal, random_file, run, sha256_file, tree_digest)

suite = Suite("s3cmd")
tmp = os.path.join(WORK, "s3cmd")
os.makedirs(tmp, exist_ok=True)
hostport = urlparse(ENDPOINT).netloc
cfg = os.path.join(tmp, "s3cfg")
with open(cfg, "w") as f:
    # host_bucket without %(bucket)s keeps path-style addressing; signature_v2 = False means SigV4.
    f.write(f"[default]\naccess_key = {ACCESS_KEY}\nsecret_key = {SECRET_KEY}\nhost_base = {hostport}\n"
            f"host_bucket = {hostport}\nuse_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n"
            "multipart_chunk_size_mb = 15\n")
os.chmod(cfg, 0o600)
ENV = {**os.environ, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
B = bucket_name("s3cmd", "t")
print(f"# s3cmd: {run(['s3cmd', '--version'], env=ENV).stdout.decode().strip()}", flush=True)


def s3cmd(*args: str, check_rc: bool = True):  # type: ignore[no-untyped-def]
    return run(["s3cmd", "-c", cfg, "--no-progress", *args], env=ENV, check_rc=check_rc)


def ls_keys(prefix: str) -> list[str]:
    out = s3cmd("ls", "-r", f"s3://{B}/{prefix}").stdout.decode("utf-8")
    base = f"s3://{B}/"
    return [line[line.index(base) + len(base):] for line in out.splitlines() if base in line]


def utf8_sorted(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode("utf-8"))


small = os.path.join(tmp, "small.bin")
small_sha = random_file(small, 1_000_003)
medium = os.path.join(tmp, "medium.bin")
medium_sha = random_file(medium, 120 * 1024 * 1024 + 7)
src = os.path.join(tmp, "src")
rng = random.Random(3)
for i in range(30):
    random_file(os.path.join(src, f"a{i % 4}", f"f{i}.bin"), rng.randint(0, 200_000))
for k in UNICODE_KEYS[:4]:
    random_file(os.path.join(src, k), 321)

with suite.cell("mb"):
    s3cmd("mb", f"s3://{B}")
    check(f"s3://{B}" in s3cmd("ls").stdout.decode(), "bucket missing from s3cmd ls")

with suite.cell("put-single"):
    s3cmd("put", small, f"s3://{B}/small.bin")

with suite.cell("put-multipart") as info:
    s3cmd("put", medium, f"s3://{B}/medium.bin")
    etag = boto3_client("path").head_object(Bucket=B, Key="medium.bin")["ETag"].strip('"')
    parts = -(-os.path.getsize(medium) // (15 * 1024 * 1024))
    check(etag.endswith(f"-{parts}"), f"ETag {etag} is not a {parts}-part ETag")
    info["detail"] = etag

with suite.cell("sync-up-delete") as info:
    s3cmd("sync", src + "/", f"s3://{B}/tree/")
    expect_equal(ls_keys("tree/"), utf8_sorted(["tree/" + k for k in tree_digest(src)]), "listing after sync")
    os.remove(os.path.join(src, "a0", "f0.bin"))
    random_file(os.path.join(src, "a9", "new.bin"), 999)
    s3cmd("sync", "--delete-removed", src + "/", f"s3://{B}/tree/")
    expect_equal(ls_keys("tree/"), utf8_sorted(["tree/" + k for k in tree_digest(src)]), "listing after sync --delete-removed")
    info["detail"] = f"{len(tree_digest(src))} files"

suite.tier(B)

with suite.cell("get-single"):
    dst = os.path.join(tmp, "small.down")
    s3cmd("get", f"s3://{B}/small.bin", dst)
    expect_equal(sha256_file(dst), small_sha, "sha256")

with suite.cell("get-multipart"):
    dst = os.path.join(tmp, "medium.down")
    s3cmd("get", f"s3://{B}/medium.bin", dst)
    expect_equal(sha256_file(dst), medium_sha, "sha256")
    os.remove(dst)

with suite.cell("sync-down-delete"):
    dst = os.path.join(tmp, "dst")
    random_file(os.path.join(dst, "stray.bin"), 5)
    s3cmd("sync", "--delete-removed", f"s3://{B}/tree/", dst + "/")
    expect_equal(tree_digest(dst), tree_digest(src), "downloaded tree (paths and sha256)")

with suite.cell("ls"):
    expect_equal(ls_keys(""), utf8_sorted(["medium.bin", "small.bin"] + ["tree/" + k for k in tree_digest(src)]),
                 "s3cmd ls -r")
    top = s3cmd("ls", f"s3://{B}/").stdout.decode()
    check(f"DIR  s3://{B}/tree/" in " ".join(top.split("  ")) or f"s3://{B}/tree/" in top, f"no tree/ dir: {top}")

with suite.cell("del"):
    s3cmd("del", f"s3://{B}/small.bin")
    s3cmd("del", "--recursive", "--force", f"s3://{B}/tree/")
    expect_equal(ls_keys(""), ["medium.bin"], "listing after del")

with suite.cell("err-NoSuchKey"):
    # s3cmd looks a source up with HEAD first (no error body), so the 404 is what it can see; --debug shows it.
    get = s3cmd("--debug", "get", f"s3://{B}/no/such/key", os.path.join(tmp, "x"), check_rc=False)
    check(get.returncode != 0 and b"does not exist" in get.stderr, f"get of a missing key: {get.stderr[-200:]!r}")
    check(b"'status': 404" in get.stderr, "no 404 response in s3cmd --debug output")
    check(not os.path.exists(os.path.join(tmp, "x")), "a file was written for a missing key")

with suite.cell("err-NoSuchBucket"):
    ls = s3cmd("ls", f"s3://{B}-missing/", check_rc=False)
    check(ls.returncode != 0 and b"404 (NoSuchBucket)" in ls.stderr, f"ls of a missing bucket: {ls.stderr[-200:]!r}")

shutil.rmtree(tmp, ignore_errors=True)
suite.finish()
