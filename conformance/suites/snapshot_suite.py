"""examples/snapshot-training end to end: a versioned bucket and a tokenized dataset (boto3, aws-cli v2), a snapshot
made through the admin API, the source changed, training from the snapshot's own S3 address with a 2-worker
DataLoader, verify, and the exported manifest's root equal to the snapshot's."""
from __future__ import annotations

import json
import os
import sys

from conf_common import ACCESS_KEY, ENDPOINT, SECRET_KEY, WORK, Suite, bucket_name, check, expect_equal, run

suite = Suite("snapshot-training")
SCRIPT = os.path.join(os.environ["CONF_ROOT"], "examples", "snapshot-training", "run.sh")
B = bucket_name("snap", "src")
SNAP = bucket_name("snap", "v1")
OUT = os.path.join(WORK, "snapshot-training")
os.makedirs(OUT, exist_ok=True)
ENV = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_ENDPOINT_URL": ENDPOINT, "AWS": "/usr/bin/aws", "AWS_PAGER": "", "PYTHON": sys.executable, "BUCKET": B, "SNAP": SNAP, "OUT": OUT, "SHARDS": "4", "WORKERS": "2"}
import torch  # noqa: E402,F401 - the training step needs it: a missing torch fails this suite, not a later step


def load(name: str) -> dict:  # type: ignore[type-arg]
    with open(os.path.join(OUT, name)) as f:
        return json.loads(f.read().strip().splitlines()[-1] if name == "train.json" else f.read())


with suite.cell("run-example") as info:
    proc = run(["bash", SCRIPT], env=ENV, check_rc=False, timeout=1200)
    check(proc.returncode == 0, f"run.sh exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-400:]}")
    info["detail"] = proc.stdout.decode().strip().splitlines()[-1]

with suite.cell("snapshot-summary"):
    snap = load("snapshot.json")
    expect_equal(snap["state"], "ready", "state")
    expect_equal(snap["objects"], 5, "4 shards and manifest.json")

with suite.cell("train-from-snapshot-after-source-changed"):
    report = load("train.json")
    expect_equal([report["duplicates"], report["missing"], report["unexpected"]], [[], [], []], "ids")
    expect_equal(report["samples_read"], report["total_samples"], "samples")

with suite.cell("verify-and-export"):
    verify = load("verify.json")
    expect_equal([verify["ok"], verify["rootMatches"], verify["mismatched"], verify["missing"]], [True, True, [], []], "verify")
    manifest = load("dataset-manifest.json")
    expect_equal(manifest["merkleRoot"], load("snapshot.json")["merkleRoot"], "root")
    expect_equal(len(manifest["entries"]), 5, "entries")

suite.finish()
