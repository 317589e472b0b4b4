#!/usr/bin/env bash
# Snapshot a training prefix, train from the snapshot's own S3 address while the source data changes, verify it, and
# keep its manifest for the model card. Needs aws-cli, python3 (or PYTHON) with boto3 and torch, and a
# Tessera endpoint: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (an admin of the bucket).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUCKET="${BUCKET:-datasets}"
PREFIX="${PREFIX:-toy/}"
SNAP="${SNAP:-toy-v1}"
OUT="${OUT:-.}"
PY="${PYTHON:-python3}"
aws() { command "${AWS:-aws}" --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }
export AWS_PAGER=""

# 1. A bucket with versioning (a snapshot pins versions), and a tokenized dataset in it.
aws s3api create-bucket --bucket "$BUCKET" >/dev/null
aws s3api put-bucket-versioning --bucket "$BUCKET" --versioning-configuration Status=Enabled
"$PY" "$HERE/../train_from_tessera.py" prepare --bucket "$BUCKET" --prefix "$PREFIX" --shards "${SHARDS:-4}" >/dev/null

# 2. The snapshot: every current version under the prefix, with its SHA-256, and the merkle root over them.
"$PY" "$HERE/tessera_snapshot.py" create "$BUCKET" "$PREFIX" "$SNAP" | tee "$OUT/snapshot.json"

# 3. The source changes under the model (a shard rewritten, another deleted)...
echo '{"id": "not-a-sample"}' | aws s3 cp - "s3://$BUCKET/${PREFIX}shard-00000.jsonl" >/dev/null
aws s3 rm "s3://$BUCKET/${PREFIX}shard-00001.jsonl" >/dev/null

# 4. ...and training reads the snapshot's address, s3://$SNAP/$PREFIX, which still holds exactly the snapshot's bytes
#    (train_from_tessera.py checks every shard against the dataset's own manifest.json and every sample id once).
"$PY" "$HERE/../train_from_tessera.py" train --bucket "$SNAP" --prefix "$PREFIX" --workers "${WORKERS:-2}" | tee "$OUT/train.json"

# 5. Verify: every object re-read from the cold tier and checked, and the root recomputed.
"$PY" "$HERE/tessera_snapshot.py" verify "$SNAP" | tee "$OUT/verify.json"

# 6. The manifest for the model card: the root is the dataset's content hash.
"$PY" "$HERE/tessera_snapshot.py" export "$SNAP" > "$OUT/dataset-manifest.json"
echo "dataset content hash: $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["merkleRoot"])' "$OUT/dataset-manifest.json")"
