"""A training loop over Tessera: examples/train_from_tessera.py prepares tokenized JSONL shards, then streams them
through boto3 into a multi-worker DataLoader, trains a tiny model and checks every sample was read exactly once."""
from __future__ import annotations

import json
import os
import sys

from conf_common import ACCESS_KEY, ENDPOINT, SECRET_KEY, Suite, boto3_client, bucket_name, check, expect_equal, run

suite = Suite("training")
SCRIPT = os.path.join(os.environ["CONF_ROOT"], "examples", "train_from_tessera.py")
ENV = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": ENDPOINT}
B = bucket_name("training", "t")
import torch  # noqa: E402 - after the environment is known, so a missing torch fails this suite, not the import line

print(f"# training: torch {torch.__version__}", flush=True)
boto3_client("path").create_bucket(Bucket=B)


def last_json(out: bytes) -> dict:  # type: ignore[type-arg]
    return json.loads(out.decode().strip().splitlines()[-1])


with suite.cell("prepare-shards") as info:
    res = last_json(run([sys.executable, SCRIPT, "prepare", "--bucket", B, "--shards", "9",
                         "--samples-per-shard", "600"], env=ENV).stdout)
    expect_equal(res["prepared"], 9, "shards")
    info["detail"] = f"{res['samples']} samples"

suite.tier(B)

with suite.cell("dataloader-4-workers-exactly-once") as info:
    proc = run([sys.executable, SCRIPT, "train", "--bucket", B, "--workers", "4"], env=ENV, check_rc=False)
    check(proc.stdout.strip() != b"", f"no report; stderr: {proc.stderr.decode()[-400:]}")
    report = last_json(proc.stdout)
    expect_equal([report["duplicates"], report["missing"], report["unexpected"]], [[], [], []],
                 "[duplicates, missing, unexpected] ids")
    expect_equal(report["samples_read"], report["total_samples"], "samples read")
    check(report["loss_last"] < report["loss_first"], f"loss did not go down: {report}")
    check(proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr.decode()[-300:]}")
    info["detail"] = (f"{report['samples_read']} samples, {report['steps']} steps, loss "
                      f"{report['loss_first']:.2f} -> {report['loss_last']:.2f}")

suite.finish()
