"""s3fs-fuse conformance: mount a bucket; mkdir, dd, read back, ls, mv, rm, rmdir, a 200 MB file, and directory
semantics checked from both sides (the mount and an S3 listing)."""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import time
from urllib.parse import urlparse

from conf_common import (ACCESS_KEY, ENDPOINT, SECRET_KEY, WORK, Suite, boto3_client, bucket_name, check,
                         expect_equal, random_file, run, sha256_bytes, sha256_file)

suite = Suite("s3fs")
tmp = os.path.join(WORK, "s3fs")
os.makedirs(tmp, exist_ok=True)
passwd = os.path.join(tmp, "passwd")
with open(passwd, "w") as f:
    f.write(f"{ACCESS_KEY}:{SECRET_KEY}\n")
os.chmod(passwd, 0o600)
s3 = boto3_client("path")
B = bucket_name("s3fs", "t")
mnt = os.path.join(tmp, "mnt")
os.makedirs(mnt)
version = run(["s3fs", "--version"], check_rc=False).stdout.decode().splitlines()[0]
print(f"# s3fs: {version}", flush=True)
MIB = 1024 * 1024


def mount(bucket: str) -> subprocess.Popen[bytes]:
    opts = [f"url={ENDPOINT}", "use_path_request_style", f"passwd_file={passwd}", "endpoint=us-east-1", "sigv4",
            "stat_cache_expire=1", "enable_noobj_cache", "retries=2", "dbglevel=warn"]
    proc = subprocess.Popen(["s3fs", bucket, mnt, "-f", "-o", ",".join(opts)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not os.path.ismount(mnt):
        if proc.poll() is not None:
            raise AssertionError(f"s3fs exited {proc.returncode}: {proc.stderr.read().decode()[-300:]}")  # type: ignore[union-attr]
        check(time.monotonic() < deadline, "not mounted after 30 s")
        time.sleep(0.2)
    return proc


def unmount(proc: subprocess.Popen[bytes]) -> None:
    run(["fusermount", "-u", mnt], check_rc=False)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def keys(prefix: str = "") -> list[str]:
    return [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=B, Prefix=prefix)
            for o in p.get("Contents", [])]


def in_mnt(*parts: str) -> str:
    return os.path.join(mnt, *parts)


if not os.path.exists("/dev/fuse") or shutil.which("fusermount") is None:
    suite.note("mount", "no /dev/fuse or fusermount on this machine")
    suite.finish()

s3.create_bucket(Bucket=B)
s3.put_object(Bucket=B, Key="implicit/dir/made-by-s3.txt", Body=b"from the S3 API")  # no "implicit/" marker object
large_src = os.path.join(tmp, "large.src")
large_sha = random_file(large_src, 200 * 1000 * 1000)
proc = None
with suite.cell("mount"):
    proc = mount(B)

if proc is not None:
    try:
        with suite.cell("mkdir"):
            os.mkdir(in_mnt("d1"))
            os.makedirs(in_mnt("d1", "nested", "deeper"))
            check(os.path.isdir(in_mnt("d1", "nested", "deeper")), "nested directory missing")
            check("d1/" in keys("d1/"), f"no d1/ marker object: {keys('d1/')}")

        dd_sha = ""
        with suite.cell("dd-write") as info:
            run(["dd", "if=/dev/urandom", f"of={in_mnt('d1', 'dd.bin')}", "bs=1M", "count=12", "status=none"])
            dd_sha = sha256_file(in_mnt("d1", "dd.bin"))
            expect_equal(s3.head_object(Bucket=B, Key="d1/dd.bin")["ContentLength"], 12 * MIB, "size seen over S3")

        with suite.cell("write-200MB") as info:
            shutil.copyfile(large_src, in_mnt("d1", "large.bin"))
            expect_equal(s3.head_object(Bucket=B, Key="d1/large.bin")["ContentLength"], 200 * 1000 * 1000, "size")

        unmount(proc)
        proc = None
        suite.tier(B)
        proc = mount(B)

        with suite.cell("read-back") as info:
            expect_equal(sha256_file(in_mnt("d1", "dd.bin")), dd_sha, "dd file sha256 through the mount")
            body = s3.get_object(Bucket=B, Key="d1/dd.bin")["Body"].read()
            expect_equal(sha256_bytes(body), dd_sha, "dd file sha256 over S3")

        with suite.cell("read-200MB"):
            expect_equal(sha256_file(in_mnt("d1", "large.bin")), large_sha, "sha256 through the mount")

        with suite.cell("ls"):
            expect_equal(sorted(os.listdir(mnt)), ["d1", "implicit"], "root listing")
            expect_equal(sorted(os.listdir(in_mnt("d1"))), ["dd.bin", "large.bin", "nested"], "d1 listing")
            check(os.path.isdir(in_mnt("implicit", "dir")), "a prefix made over S3 is not a directory in the mount")
            with open(in_mnt("implicit", "dir", "made-by-s3.txt"), "rb") as fh:
                expect_equal(fh.read(), b"from the S3 API", "file made over S3")

        with suite.cell("mv"):
            os.rename(in_mnt("d1", "dd.bin"), in_mnt("d1", "nested", "moved.bin"))
            check(not os.path.exists(in_mnt("d1", "dd.bin")), "source still exists after mv")
            expect_equal(sha256_file(in_mnt("d1", "nested", "moved.bin")), dd_sha, "moved file sha256")
            os.rename(in_mnt("d1", "nested"), in_mnt("d1", "renamed"))
            expect_equal(sorted(k for k in keys("d1/") if not k.endswith("large.bin")),
                         ["d1/", "d1/renamed/", "d1/renamed/deeper/", "d1/renamed/moved.bin"], "keys after mv")

        with suite.cell("rmdir-nonempty-refused"):
            try:
                os.rmdir(in_mnt("d1", "renamed"))
                raise AssertionError("rmdir of a non-empty directory succeeded")
            except OSError as err:
                expect_equal(err.errno, errno.ENOTEMPTY, "errno")

        with suite.cell("rm"):
            os.remove(in_mnt("d1", "renamed", "moved.bin"))
            os.remove(in_mnt("d1", "large.bin"))
            check("d1/renamed/moved.bin" not in keys("d1/"), "object still there after rm")

        with suite.cell("rmdir"):
            os.rmdir(in_mnt("d1", "renamed", "deeper"))
            os.rmdir(in_mnt("d1", "renamed"))
            os.rmdir(in_mnt("d1"))
            expect_equal(sorted(os.listdir(mnt)), ["implicit"], "root listing after rmdir")
            expect_equal(keys(), ["implicit/dir/made-by-s3.txt"], "bucket keys after rmdir")

        with suite.cell("err-NoSuchKey"):
            try:
                open(in_mnt("no-such-file"), "rb")
                raise AssertionError("opened a missing file")
            except FileNotFoundError:
                pass
    finally:
        if proc is not None:
            unmount(proc)

with suite.cell("err-NoSuchBucket"):
    try:
        bad = mount(B + "-missing")
        unmount(bad)
        raise AssertionError("mounted a missing bucket")
    except AssertionError as err:
        check("exited" in str(err), str(err))

shutil.rmtree(tmp, ignore_errors=True)
suite.finish()
