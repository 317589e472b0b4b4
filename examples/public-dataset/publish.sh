#!/usr/bin/env bash
# Publishes a directory as a public, read-only dataset: a bucket, the files, and a bucket policy that lets anyone
# (unsigned clients, curl) list and read it; writes stay with the owner.
#
#   AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... ./publish.sh http://127.0.0.1:9000 my-dataset ./data
#
# Needs aws-cli (v1 or v2; AWS=/path/to/aws to choose one).
set -euo pipefail
ENDPOINT=${1:?endpoint URL}
BUCKET=${2:?bucket name}
DIR=${3:?directory to publish}
AWS=${AWS:-aws}
HERE=$(cd "$(dirname "$0")" && pwd)
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}

"$AWS" --endpoint-url "$ENDPOINT" s3api create-bucket --bucket "$BUCKET" >/dev/null
"$AWS" --endpoint-url "$ENDPOINT" s3 cp --recursive --only-show-errors "$DIR" "s3://$BUCKET/"
POLICY=$(sed "s/BUCKET/$BUCKET/g" "$HERE/policy.json")
"$AWS" --endpoint-url "$ENDPOINT" s3api put-bucket-policy --bucket "$BUCKET" --policy "$POLICY"
echo "published s3://$BUCKET from $DIR; read it with: aws --endpoint-url $ENDPOINT s3 ls --no-sign-request s3://$BUCKET/"
