#!/usr/bin/env python3
"""Tessera's snapshot admin API (/_tessera/snapshots on the S3 port), SigV4-signed with botocore (S3SigV4Auth, which signs the payload hash as S3 requires).

    tessera_snapshot.py create BUCKET PREFIX NAME   # JSON summary with the merkle root
    tessera_snapshot.py show NAME
    tessera_snapshot.py list
    tessera_snapshot.py verify NAME                 # JSON report; exit 1 unless it verified
    tessera_snapshot.py export NAME                 # the manifest, for a model card
    tessera_snapshot.py delete NAME

Endpoint and credentials as for any S3 tool: --endpoint or AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION (default us-east-1).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def call(endpoint: str, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else b""
    request = AWSRequest(method=method, url=endpoint.rstrip("/") + path, data=data,
                         headers={"content-type": "application/json"} if body is not None else {})
    credentials = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    S3SigV4Auth(credentials, "s3", os.environ.get("AWS_DEFAULT_REGION", "us-east-1")).add_auth(request)
    prepared = urllib.request.Request(request.url, data=data if method in ("POST", "PUT") else None,
                                      headers=dict(request.headers.items()), method=method)
    try:
        with urllib.request.urlopen(prepared, timeout=3600) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"))
    parser.add_argument("command", choices=["create", "show", "list", "verify", "export", "delete"])
    parser.add_argument("args", nargs="*")
    a = parser.parse_args(argv)
    if not a.endpoint:
        parser.error("no endpoint: --endpoint or AWS_ENDPOINT_URL")
    want = {"create": 3, "list": 0}.get(a.command, 1)
    if len(a.args) != want:
        parser.error(f"{a.command} takes {want} argument(s)")
    if a.command == "create":
        status, out = call(a.endpoint, "POST", "/_tessera/snapshots", {"bucket": a.args[0], "prefix": a.args[1], "name": a.args[2]})
    elif a.command == "list":
        status, out = call(a.endpoint, "GET", "/_tessera/snapshots")
    elif a.command == "show":
        status, out = call(a.endpoint, "GET", f"/_tessera/snapshots/{a.args[0]}")
    elif a.command == "export":
        status, out = call(a.endpoint, "GET", f"/_tessera/snapshots/{a.args[0]}?export")
    elif a.command == "verify":
        status, out = call(a.endpoint, "POST", f"/_tessera/snapshots/{a.args[0]}?verify")
    else:
        status, out = call(a.endpoint, "DELETE", f"/_tessera/snapshots/{a.args[0]}")
    sys.stdout.write(out.decode() if out else json.dumps({"status": status}) + "\n")
    if status >= 300:
        return 1
    if a.command == "verify" and not json.loads(out).get("ok"):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
