"""Reads a public dataset with an unsigned boto3 client (no credentials at all), as a training job would.

    python3 read_unsigned.py http://127.0.0.1:9000 my-dataset

Prints one line per object: its key, size and SHA-256.
"""
import hashlib
import sys

import boto3
from botocore import UNSIGNED
from botocore.config import Config

endpoint, bucket = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}))
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
    for obj in page.get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        print(f"{obj['Key']}\t{len(body)}\t{hashlib.sha256(body).hexdigest()}")
