"""The public-dataset example (examples/public-dataset) end to end: publish.sh with aws-cli v2, then read it with no
credentials at all: read_unsigned.py (boto3 UNSIGNED), `aws s3 cp --no-sign-request`, and curl. Anonymous writes and
other buckets stay refused."""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request

from conf_common import ENDPOINT, WORK, Suite, boto3_client, bucket_name, check, expect_equal, random_file, run

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "public-dataset")
suite = Suite("public-dataset")
B = bucket_name("pub", "ds")
SIGNED = {**os.environ, "AWS_ACCESS_KEY_ID": os.environ["CONF_ACCESS_KEY"], "AWS_SECRET_ACCESS_KEY": os.environ["CONF_SECRET_KEY"],
          "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": "", "AWS": "/usr/bin/aws",
          "AWS_CONFIG_FILE": os.path.join(WORK, "none"), "AWS_SHARED_CREDENTIALS_FILE": os.path.join(WORK, "none")}
UNSIGNED_ENV = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {"AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": "",
                                                                                   "AWS_SHARED_CREDENTIALS_FILE": os.path.join(WORK, "none"),
                                                                                   "AWS_CONFIG_FILE": os.path.join(WORK, "none")}
data = os.path.join(WORK, "dataset")
files = {f"train/{i:04d}.bin": random_file(os.path.join(data, "train", f"{i:04d}.bin"), 200_000 + i) for i in range(5)}
files["README.txt"] = random_file(os.path.join(data, "README.txt"), 100)

with suite.cell("publish-with-policy"):
    run(["bash", os.path.join(EXAMPLE, "publish.sh"), ENDPOINT, B, data], env=SIGNED)

with suite.cell("boto3-unsigned-read-all"):
    out = run(["python3", os.path.join(EXAMPLE, "read_unsigned.py"), ENDPOINT, B], env=UNSIGNED_ENV).stdout.decode()
    seen = {line.split("\t")[0]: line.split("\t")[2] for line in out.strip().splitlines()}
    expect_equal(seen, files, "keys and SHA-256 read without credentials")

with suite.cell("awscli-no-sign-request"):
    dest = os.path.join(WORK, "copied.bin")
    run(["/usr/bin/aws", "--endpoint-url", ENDPOINT, "s3", "cp", "--no-sign-request", f"s3://{B}/train/0003.bin", dest], env=UNSIGNED_ENV)
    with open(dest, "rb") as f:
        expect_equal(hashlib.sha256(f.read()).hexdigest(), files["train/0003.bin"], "sha256")
    listed = run(["/usr/bin/aws", "--endpoint-url", ENDPOINT, "s3", "ls", "--no-sign-request", "--recursive", f"s3://{B}/"], env=UNSIGNED_ENV).stdout.decode()
    expect_equal(sorted(line.split()[-1] for line in listed.strip().splitlines()), sorted(files), "listing")

with suite.cell("curl-get"):
    body = run(["curl", "-sf", f"{ENDPOINT}/{B}/README.txt"]).stdout
    expect_equal(hashlib.sha256(body).hexdigest(), files["README.txt"], "sha256")

with suite.cell("anonymous-write-refused"):
    req = urllib.request.Request(f"{ENDPOINT}/{B}/train/evil.bin", data=b"x", method="PUT")
    try:
        urllib.request.urlopen(req)
        raise AssertionError("an anonymous PUT succeeded")
    except urllib.error.HTTPError as err:
        expect_equal(err.code, 403, "status")
        check(b"<Code>AccessDenied</Code>" in err.read(), "AccessDenied body")
    s3 = boto3_client("path")
    check("train/evil.bin" not in [o["Key"] for o in s3.list_objects_v2(Bucket=B).get("Contents", [])], "nothing stored")

with suite.cell("private-bucket-stays-private"):
    private = bucket_name("pub", "priv")
    s3 = boto3_client("path")
    s3.create_bucket(Bucket=private)
    s3.put_object(Bucket=private, Key="x", Body=b"private")
    try:
        urllib.request.urlopen(f"{ENDPOINT}/{private}/x")
        raise AssertionError("an anonymous GET of a private bucket succeeded")
    except urllib.error.HTTPError as err:
        expect_equal(err.code, 403, "status")

suite.finish()
