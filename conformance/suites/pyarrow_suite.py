"""pyarrow conformance (fs.S3FileSystem, AWS C++ SDK): write a hive-partitioned Parquet dataset, read it back whole
and filtered, list it, and check the errors for a missing key and a missing bucket."""
from __future__ import annotations

import random
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from pyarrow import fs

from conf_common import (ACCESS_KEY, ENDPOINT, SECRET_KEY, Suite, boto3_client, bucket_name, check, expect_equal)

suite = Suite("pyarrow")
print(f"# pyarrow: pyarrow {pa.__version__}", flush=True)
B = bucket_name("pyarrow", "t")
s3fs = fs.S3FileSystem(access_key=ACCESS_KEY, secret_key=SECRET_KEY, endpoint_override=urlparse(ENDPOINT).netloc,
                       scheme="http", region="us-east-1", allow_bucket_creation=True, allow_bucket_deletion=True)
s3 = boto3_client("path")

rng = random.Random(11)
N = 120_000
table = pa.table({
    "id": pa.array(range(N), pa.int64()),
    "year": pa.array([2022 + i % 3 for i in range(N)], pa.int32()),
    "shard": pa.array([i % 4 for i in range(N)], pa.int32()),
    "value": pa.array([rng.random() for _ in range(N)], pa.float64()),
    "text": pa.array([f"sample {i} {'é' * (i % 7)}" for i in range(N)], pa.string()),
})
part = ds.partitioning(pa.schema([("year", pa.int32()), ("shard", pa.int32())]), flavor="hive")


def normalized(t: pa.Table) -> pa.Table:
    return t.select(["id", "year", "shard", "value", "text"]).sort_by("id")


with suite.cell("create-bucket"):
    s3fs.create_dir(B)
    check(B in [b["Name"] for b in s3.list_buckets()["Buckets"]], "bucket not created")

written: list[str] = []
with suite.cell("write_dataset-partitioned") as info:
    ds.write_dataset(table, f"{B}/events", format="parquet", partitioning=part, filesystem=s3fs,
                     max_rows_per_file=20_000, max_rows_per_group=5_000,
                     file_visitor=lambda f: written.append(f.path))
    # pyarrow also writes empty "dir/" marker objects for the partition directories: compare the data files.
    listed = sorted(o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=B, Prefix="events/")
                    for o in p.get("Contents", []) if not o["Key"].endswith("/"))
    expect_equal(listed, sorted(p[len(B) + 1:] for p in written), "keys written vs listed over S3")
    check(len(listed) >= 12, f"expected >= 12 files (3 years x 4 shards), got {len(listed)}")
    info["detail"] = f"{len(listed)} files"

suite.tier(B)

with suite.cell("read-dataset"):
    got = ds.dataset(f"{B}/events", format="parquet", partitioning=part, filesystem=s3fs).to_table()
    check(normalized(got).equals(normalized(table)), "dataset read back differs from what was written")

with suite.cell("read-filtered"):
    dset = ds.dataset(f"{B}/events", format="parquet", partitioning=part, filesystem=s3fs)
    got = dset.to_table(filter=(ds.field("year") == 2023) & (ds.field("value") > 0.5))
    want = table.filter(pc.and_(pc.equal(table["year"], 2023), pc.greater(table["value"], 0.5)))
    check(normalized(got).equals(normalized(want)), f"filtered rows differ ({got.num_rows} vs {want.num_rows})")

with suite.cell("get_file_info-listing"):
    infos = s3fs.get_file_info(fs.FileSelector(f"{B}/events", recursive=True))
    files = sorted(i.path for i in infos if i.type == fs.FileType.File)
    expect_equal(files, sorted(written), "recursive FileSelector files")
    dirs = sorted(i.path for i in infos if i.type == fs.FileType.Directory)
    expect_equal(dirs, sorted({f"{B}/events/year={y}" for y in (2022, 2023, 2024)} |
                              {f"{B}/events/year={y}/shard={s}" for y in (2022, 2023, 2024) for s in range(4)}),
                 "directories")

with suite.cell("input-stream-range"):
    path = sorted(written)[0]
    size = s3fs.get_file_info(path).size
    with s3fs.open_input_file(path) as f:
        f.seek(size - 8)
        tail = f.read(8)
    check(tail[4:] == b"PAR1", f"Parquet footer magic missing: {tail!r}")
    body = s3.get_object(Bucket=B, Key=path[len(B) + 1:])["Body"].read()
    expect_equal(tail, body[-8:], "ranged read vs full GET")

with suite.cell("err-NoSuchKey"):
    try:
        s3fs.open_input_file(f"{B}/events/no-such.parquet")
        raise AssertionError("opened a missing key")
    except FileNotFoundError as err:
        check("does not exist" in str(err) or "NoSuchKey" in str(err) or "404" in str(err), str(err))
    expect_equal(s3fs.get_file_info(f"{B}/events/no-such.parquet").type, fs.FileType.NotFound, "file info type")

with suite.cell("err-NoSuchBucket"):
    expect_equal(s3fs.get_file_info(f"{B}-missing").type, fs.FileType.NotFound, "missing bucket file info")
    try:
        s3fs.open_input_file(f"{B}-missing/k")
        raise AssertionError("opened a key in a missing bucket")
    except OSError as err:
        check("NoSuchBucket" in str(err) or "does not exist" in str(err) or "404" in str(err), str(err)[:300])

suite.finish()
