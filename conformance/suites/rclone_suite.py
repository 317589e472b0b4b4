"""rclone conformance (s3 remote, provider Other, path style): mkdir, copy, sync, check, lsf, cat, and a read-only
`rclone mount` (FUSE) when /dev/fuse and fusermount exist."""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import time

from conf_common import (ACCESS_KEY, ENDPOINT, SECRET_KEY, UNICODE_KEYS, WORK, Suite, bucket_name, check,
                         expect_equal, random_file, run, sha256_file, tree_digest)

suite = Suite("rclone")
tmp = os.path.join(WORK, "rclone")
os.makedirs(tmp, exist_ok=True)
conf = os.path.join(tmp, "rclone.conf")
with open(conf, "w") as f:
    f.write(f"[tess]\ntype = s3\nprovider = Other\naccess_key_id = {ACCESS_KEY}\nsecret_access_key = {SECRET_KEY}\n"
            f"endpoint = {ENDPOINT}\nregion = us-east-1\nforce_path_style = true\n")
os.chmod(conf, 0o600)
# AWS_CA_BUNDLE (set system-wide here) makes rclone's AWS SDK fail on its custom transport; the endpoint is http.
ENV = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"} | {"RCLONE_CONFIG": conf, "LC_ALL": "C.UTF-8"}
B = bucket_name("rclone", "t")
# Multipart above 50 MiB (rclone's default cutoff is 200 MiB) so the 150 MiB file goes through multipart.
FLAGS = ["--s3-upload-cutoff", "50M", "--s3-chunk-size", "16M", "--retries", "1", "--low-level-retries", "2"]
print(f"# rclone: {run(['rclone', 'version'], env=ENV).stdout.decode().splitlines()[0]}", flush=True)


def rclone(*args: str, check_rc: bool = True):  # type: ignore[no-untyped-def]
    return run(["rclone", *FLAGS, *args], env=ENV, check_rc=check_rc)


def lsf(path: str) -> list[str]:
    return sorted(rclone("lsf", "-R", "--files-only", path).stdout.decode("utf-8").splitlines())


src = os.path.join(tmp, "src")
rng = random.Random(5)
for i in range(40):
    random_file(os.path.join(src, f"p{i % 5}", f"f{i}.bin"), rng.randint(0, 250_000))
for k in UNICODE_KEYS[:5]:
    random_file(os.path.join(src, k), 77)
random_file(os.path.join(src, "large", "big.bin"), 150 * 1024 * 1024)

with suite.cell("mkdir"):
    rclone("mkdir", f"tess:{B}")
    check(B + "/" in rclone("lsf", "tess:").stdout.decode(), "bucket missing from rclone lsf tess:")

with suite.cell("copy-up") as info:
    rclone("copy", src, f"tess:{B}/tree", "--transfers", "4")
    expect_equal(lsf(f"tess:{B}/tree"), sorted(tree_digest(src)), "remote listing")
    info["detail"] = f"{len(tree_digest(src))} files incl. 150 MiB multipart"

with suite.cell("sync-up") as info:
    os.remove(os.path.join(src, "p1", "f1.bin"))
    random_file(os.path.join(src, "p2", "f2.bin"), 12345)
    random_file(os.path.join(src, "added", "n.bin"), 10)
    rclone("sync", src, f"tess:{B}/tree")
    expect_equal(lsf(f"tess:{B}/tree"), sorted(tree_digest(src)), "remote listing after sync (deletes mirrored)")

suite.tier(B)

with suite.cell("check-download") as info:
    # --download compares the bytes of every file, not just sizes and hashes.
    rclone("check", "--download", src, f"tess:{B}/tree")
    info["detail"] = "byte-for-byte"

with suite.cell("check-hash"):
    rclone("check", src, f"tess:{B}/tree")

with suite.cell("copy-down"):
    dst = os.path.join(tmp, "dst")
    rclone("copy", f"tess:{B}/tree", dst, "--transfers", "4")
    expect_equal(tree_digest(dst), tree_digest(src), "downloaded tree (paths and sha256)")
    shutil.rmtree(dst)

with suite.cell("sync-down"):
    dst = os.path.join(tmp, "dst2")
    random_file(os.path.join(dst, "stray.bin"), 3)
    rclone("sync", f"tess:{B}/tree", dst)
    expect_equal(tree_digest(dst), tree_digest(src), "synced tree (stray file removed)")
    shutil.rmtree(dst)

with suite.cell("lsf"):
    expect_equal(lsf(f"tess:{B}/tree/unicode"), sorted(k.split("/", 1)[1] for k in UNICODE_KEYS[:5]), "unicode lsf")
    dirs = rclone("lsf", "--dirs-only", f"tess:{B}/tree").stdout.decode().split()
    expect_equal(sorted(dirs), sorted({p.split("/")[0] + "/" for p in tree_digest(src)}), "directories")

can_mount = os.path.exists("/dev/fuse") and shutil.which("fusermount") is not None
if not can_mount:
    suite.note("mount-read", "no /dev/fuse or fusermount on this machine")
else:
    with suite.cell("mount-read") as info:
        mnt = os.path.join(tmp, "mnt")
        os.makedirs(mnt)
        proc = subprocess.Popen(["rclone", *FLAGS, "mount", f"tess:{B}/tree", mnt, "--read-only",
                                 "--vfs-cache-mode", "off", "--dir-cache-time", "1s"], env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while not os.path.ismount(mnt):
                if proc.poll() is not None:
                    raise AssertionError(f"rclone mount exited: {proc.stderr.read().decode()[-300:]}")  # type: ignore[union-attr]
                check(time.monotonic() < deadline, "not mounted after 30 s")
                time.sleep(0.2)
            expect_equal(tree_digest(mnt), tree_digest(src), "tree read through the mount (paths and sha256)")
            with open(os.path.join(mnt, "large", "big.bin"), "rb") as fh:
                fh.seek(100 * 1024 * 1024)
                chunk = fh.read(4096)
            with open(os.path.join(src, "large", "big.bin"), "rb") as fh:
                fh.seek(100 * 1024 * 1024)
                check(chunk == fh.read(4096), "seeked read differs")
        finally:
            run(["fusermount", "-u", mnt], check_rc=False)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

with suite.cell("err-NoSuchKey"):
    # rclone treats a missing object path as a (possibly empty) directory and exits 0; what it sees from the
    # gateway is the HEAD answer: 404 with x-amz-error-code NoSuchKey (HEAD carries no body).
    out = rclone("lsjson", "--stat", f"tess:{B}/tree/no-such-key", "--dump", "headers", check_rc=False)
    check(b"HTTP/1.1 404 Not Found" in out.stderr, f"no 404 for the HEAD of a missing key: {out.stderr[-300:]!r}")
    check(b"X-Amz-Error-Code: NoSuchKey" in out.stderr, f"no NoSuchKey error code header: {out.stderr[-300:]!r}")
    check(b"no-such-key" not in out.stdout, f"a missing key was listed: {out.stdout[:200]!r}")

with suite.cell("err-NoSuchBucket"):
    out = rclone("lsf", f"tess:{B}-missing", "--dump", "bodies", check_rc=False)
    check(out.returncode == 3, f"rclone exit {out.returncode}, expected 3 (directory not found)")
    check(b"<Code>NoSuchBucket</Code>" in out.stderr, f"no NoSuchBucket body in: {out.stderr[-300:]!r}")

shutil.rmtree(tmp, ignore_errors=True)
suite.finish()
