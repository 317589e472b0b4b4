"""polars conformance (Rust object_store): scan_parquet("s3://...") with storage_options, filter, collect; and a
write_parquet straight to S3."""
from __future__ import annotations

import io
import random

import polars as pl

from conf_common import (ACCESS_KEY, ENDPOINT, SECRET_KEY, Suite, boto3_client, bucket_name, check, expect_equal)

suite = Suite("polars")
print(f"# polars: polars {pl.__version__}", flush=True)
B = bucket_name("polars", "t")
s3 = boto3_client("path")
OPTS = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY, "aws_region": "us-east-1",
        "aws_endpoint_url": ENDPOINT, "aws_allow_http": "true", "aws_virtual_hosted_style_request": "false"}

rng = random.Random(13)
frames = []
for part in range(4):
    n = 50_000
    frames.append(pl.DataFrame({
        "id": list(range(part * n, (part + 1) * n)),
        "label": [rng.choice(["cat", "dog", "emu", "ünï"]) for _ in range(n)],
        "score": [rng.random() for _ in range(n)],
    }))
whole = pl.concat(frames)

with suite.cell("upload-parquet"):
    s3.create_bucket(Bucket=B)
    for i, df in enumerate(frames):
        buf = io.BytesIO()
        df.write_parquet(buf, row_group_size=10_000)
        s3.put_object(Bucket=B, Key=f"tbl/part-{i}.parquet", Body=buf.getvalue())

with suite.cell("write_parquet-s3"):
    frames[0].write_parquet(f"s3://{B}/written/by-polars.parquet", storage_options=OPTS)
    check(s3.head_object(Bucket=B, Key="written/by-polars.parquet")["ContentLength"] > 0, "empty object")

suite.tier(B)

with suite.cell("scan_parquet-filter-collect") as info:
    lazy = pl.scan_parquet(f"s3://{B}/tbl/*.parquet", storage_options=OPTS)
    got = lazy.filter((pl.col("label") == "ünï") & (pl.col("score") > 0.25)).select("id", "score").collect()
    want = whole.filter((pl.col("label") == "ünï") & (pl.col("score") > 0.25)).select("id", "score")
    check(got.sort("id").equals(want.sort("id")), f"filtered rows differ ({got.height} vs {want.height})")
    info["detail"] = f"{got.height} rows"

with suite.cell("scan_parquet-full"):
    got = pl.scan_parquet(f"s3://{B}/tbl/*.parquet", storage_options=OPTS).collect()
    check(got.sort("id").equals(whole.sort("id")), "full scan differs")
    agg = (pl.scan_parquet(f"s3://{B}/tbl/*.parquet", storage_options=OPTS).group_by("label")
           .agg(pl.len().alias("n")).sort("label").collect())
    expect_equal(agg.rows(), whole.group_by("label").agg(pl.len().alias("n")).sort("label").rows(), "group_by")

with suite.cell("read-written"):
    got = pl.read_parquet(f"s3://{B}/written/by-polars.parquet", storage_options=OPTS)
    check(got.equals(frames[0]), "object written by polars reads back differently")

with suite.cell("err-NoSuchKey"):
    try:
        pl.read_parquet(f"s3://{B}/tbl/no-such.parquet", storage_options=OPTS)
        raise AssertionError("read a missing key")
    except AssertionError:
        raise
    except Exception as err:  # noqa: BLE001 - polars wraps object_store's NotFound in its own error types
        msg = str(err)
        check("not found" in msg.lower() or "NoSuchKey" in msg or "404" in msg, msg[:300])

with suite.cell("err-NoSuchBucket"):
    try:
        pl.scan_parquet(f"s3://{B}-missing/x/*.parquet", storage_options=OPTS).collect()
        raise AssertionError("scanned a missing bucket")
    except AssertionError:
        raise
    except Exception as err:  # noqa: BLE001
        msg = str(err)
        check("NoSuchBucket" in msg or "404" in msg or "not found" in msg.lower(), msg[:300])

suite.finish()
