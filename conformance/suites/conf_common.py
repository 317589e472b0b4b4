"""Shared helpers for the Python conformance suites.

Every suite prints one line per check, `CELL <client> <op> PASS|FAIL|NOTE <detail>`, which conformance/run.mjs
collects into the matrix. A check passes only when its body runs to the end without an exception; every body
compares bytes (sha256) or listings exactly.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import time
import traceback
from typing import Iterator

ENDPOINT = os.environ["CONF_ENDPOINT"]  # http://127.0.0.1:PORT (path style)
VHOST_ENDPOINT = os.environ["CONF_VHOST_ENDPOINT"]  # http://localhost:PORT (virtual-hosted style)
ACCESS_KEY = os.environ["CONF_ACCESS_KEY"]
SECRET_KEY = os.environ["CONF_SECRET_KEY"]
REGION = "us-east-1"
MODE = os.environ.get("CONF_MODE", "warm")  # warm | evicted
WORK = os.environ["CONF_WORK"]  # a scratch directory of this suite run
RUN_ID = os.environ.get("CONF_RUN_ID", "x")
TIER_CMD = os.environ["CONF_TIER_CMD"]  # node conformance/tier.mjs (warm or evict, chosen by CONF_MODE)
BIG_FILE = os.environ.get("CONF_BIG_FILE", "")  # 1 GiB of random bytes, generated once by run.mjs
BIG_SIZE = int(os.environ.get("CONF_MEDIUM_SIZE", str(150 * 1024 * 1024)))


def bucket_name(client: str, tag: str) -> str:
    """A valid, unique bucket name per client, purpose, mode and run (3-63 chars, lower case)."""
    name = f"{client}-{tag}-{MODE[0]}-{RUN_ID}".lower().replace("_", "-")
    return name[:63].rstrip("-")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(4 << 20)
            if not block:
                return h.hexdigest()
            h.update(block)


def random_file(path: str, size: int) -> str:
    """Writes `size` random bytes to path and returns their sha256."""
    h = hashlib.sha256()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            block = os.urandom(min(left, 4 << 20))
            h.update(block)
            f.write(block)
            left -= len(block)
    return h.hexdigest()


def tree_digest(root: str) -> dict[str, str]:
    """relative path (POSIX) -> sha256 of every regular file under root."""
    out: dict[str, str] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, root).replace(os.sep, "/")] = sha256_file(full)
    return out


def check(cond: bool, message: str) -> None:
    if not cond:
        raise AssertionError(message)


def expect_equal(actual: object, expected: object, what: str) -> None:
    if actual != expected:
        a, e = repr(actual), repr(expected)
        raise AssertionError(f"{what}: got {a[:200]} expected {e[:200]}")


def run(cmd: list[str], *, env: dict[str, str] | None = None, check_rc: bool = True, timeout: float = 900,
        input_bytes: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout, input=input_bytes)
    if check_rc and proc.returncode != 0:
        raise AssertionError(f"{os.path.basename(cmd[0])} {' '.join(cmd[1:3])} exited {proc.returncode}: "
                             f"{proc.stderr.decode(errors='replace').strip()[-300:]}")
    return proc


def refused(call, code: str) -> None:  # type: ignore[no-untyped-def]
    """call() must fail with this S3 error code (or HTTP status, for HEAD)."""
    try:
        call()
    except Exception as err:  # noqa: BLE001 - botocore raises ClientError subclasses
        expect_equal(error_code(err)[0], code, "error code")
        return
    raise AssertionError(f"succeeded, expected {code}")


def one_line(text: str) -> str:
    return " ".join(text.split())[:400]


class Suite:
    def __init__(self, client: str) -> None:
        self.client = client
        self.failed = 0

    def emit(self, op: str, status: str, detail: str = "") -> None:
        print(f"CELL {self.client} {op} {status} {one_line(detail)}", flush=True)
        if status == "FAIL":
            self.failed += 1

    @contextlib.contextmanager
    def cell(self, op: str) -> Iterator[dict[str, str]]:
        """Runs a check; any exception makes the cell FAIL with its message. Put a note in info['detail']."""
        info: dict[str, str] = {"detail": ""}
        started = time.monotonic()
        try:
            yield info
        except Exception as err:  # noqa: BLE001 - every failure becomes a FAIL cell, with its reason
            tb = traceback.extract_tb(err.__traceback__)
            where = f" [{os.path.basename(tb[-1].filename)}:{tb[-1].lineno}]" if tb else ""
            self.emit(op, "FAIL", f"{type(err).__name__}: {err}{where}")
            return
        took = time.monotonic() - started
        self.emit(op, "PASS", f"{info['detail']} ({took:.1f}s)".strip())

    def note(self, op: str, detail: str) -> None:
        """A check that cannot run here, shown in the matrix with its reason (never silently dropped)."""
        self.emit(op, "NOTE", detail)

    def tier(self, bucket: str) -> bool:
        """warm mode: promote every object of bucket; evicted mode: demote them, so reads reconstruct from shards.
        A failure is a FAIL cell of its own; the suite goes on (its reads then test whatever tier they find)."""
        try:
            run(TIER_CMD.split() + [bucket], timeout=900)
            return True
        except Exception as err:  # noqa: BLE001
            self.emit(f"tier-{MODE}", "FAIL", f"{bucket}: {err}")
            return False

    def finish(self) -> None:
        sys.exit(1 if self.failed else 0)


def resolve_localhost_subdomains() -> None:
    """BUCKET.localhost does not resolve on every system (no nss-myhostname here): map *.localhost to 127.0.0.1 in
    this process only, so virtual-hosted requests still carry Host: BUCKET.localhost:PORT."""
    real = socket.getaddrinfo

    def patched(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(host, str) and (host == "localhost" or host.endswith(".localhost")):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = patched  # type: ignore[assignment]


def boto3_client(addressing: str = "path", **config_kwargs: object):  # type: ignore[no-untyped-def]
    import boto3
    from botocore.config import Config

    if addressing == "virtual":
        resolve_localhost_subdomains()
    cfg = Config(s3={"addressing_style": addressing}, retries={"max_attempts": 3, "mode": "standard"},
                 **config_kwargs)  # type: ignore[arg-type]
    return boto3.client("s3", endpoint_url=VHOST_ENDPOINT if addressing == "virtual" else ENDPOINT,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION,
                        config=cfg)


def error_code(err: BaseException) -> tuple[str, int]:
    resp = getattr(err, "response", {}) or {}
    return (resp.get("Error", {}).get("Code", ""), resp.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


UNICODE_KEYS = [
    "unicode/ünïcödé.txt",
    "unicode/日本語/ファイル.bin",
    "unicode/файл с пробелами.dat",
    "unicode/emoji 😀/x+y=z&a.txt",
    "unicode/percent%20literal (1).txt",
    "unicode/é-precomposed",
    "unicode/e\u0301-decomposed",
]
