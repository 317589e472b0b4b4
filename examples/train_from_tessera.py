#!/usr/bin/env python3
"""Train a tiny next-token model on tokenized JSONL shards streamed from Tessera (or any S3 endpoint).

    # write N shards of tokenized samples, plus manifest.json (sample counts and sha256 per shard)
    python examples/train_from_tessera.py prepare --bucket datasets --prefix toy/ --shards 8
    # stream them through boto3 into a DataLoader with several workers, train, and verify the epoch
    python examples/train_from_tessera.py train --bucket datasets --prefix toy/ --workers 4

Endpoint and credentials: --endpoint (or AWS_ENDPOINT_URL), AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, region
us-east-1 unless AWS_DEFAULT_REGION says otherwise; path-style addressing.

Every shard is streamed line by line (never loaded whole), split across DataLoader workers by shard, and its bytes
are checked against the manifest's sha256. After one epoch the script checks that every sample id was seen exactly
once and that the loss went down, prints a JSON report, and exits non-zero when a check fails.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
from collections import Counter
from typing import Any, Iterator

import boto3
from botocore.config import Config

VOCAB = 64
SEQ_LEN = 24


def s3_client(endpoint: str | None) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint or os.environ.get("AWS_ENDPOINT_URL"),
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"}),
    )


def sample_tokens(rng: random.Random) -> list[int]:
    """A learnable toy language: each sequence counts up from a random start with a stride of 1, 2 or 3."""
    start, stride = rng.randrange(VOCAB), rng.choice((1, 2, 3))
    length = rng.randint(8, SEQ_LEN)
    return [(start + i * stride) % VOCAB for i in range(length)]


def prepare(args: argparse.Namespace) -> int:
    s3 = s3_client(args.endpoint)
    rng = random.Random(args.seed)
    shards = []
    next_id = 0
    for n in range(args.shards):
        # Uneven shard sizes, so a worker split that assumes equal shards would show up as a missing/duplicate id.
        count = args.samples_per_shard + rng.randint(-args.samples_per_shard // 4, args.samples_per_shard // 4)
        lines = []
        for _ in range(count):
            lines.append(json.dumps({"id": next_id, "tokens": sample_tokens(rng)}, separators=(",", ":")))
            next_id += 1
        body = ("\n".join(lines) + "\n").encode()
        key = f"{args.prefix}shard-{n:05d}.jsonl"
        s3.put_object(Bucket=args.bucket, Key=key, Body=body)
        shards.append({"key": key, "samples": count, "sha256": hashlib.sha256(body).hexdigest()})
    manifest = {"vocab": VOCAB, "total_samples": next_id, "shards": shards}
    s3.put_object(Bucket=args.bucket, Key=f"{args.prefix}manifest.json", Body=json.dumps(manifest).encode())
    print(json.dumps({"prepared": len(shards), "samples": next_id}))
    return 0


def train(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.data import DataLoader, IterableDataset, get_worker_info

    s3 = s3_client(args.endpoint)
    manifest = json.loads(s3.get_object(Bucket=args.bucket, Key=f"{args.prefix}manifest.json")["Body"].read())
    listed = sorted(o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=args.bucket, Prefix=args.prefix)
                    for o in p.get("Contents", []) if o["Key"].endswith(".jsonl"))
    if listed != sorted(s["key"] for s in manifest["shards"]):
        print(json.dumps({"error": "listed shards differ from the manifest", "listed": listed}))
        return 1

    class ShardStream(IterableDataset):  # type: ignore[type-arg]
        """Streams the shards of this worker (shard i goes to worker i % workers) line by line."""

        def __init__(self, shards: list[dict[str, Any]]) -> None:
            self.shards = shards

        def __iter__(self) -> Iterator[tuple[int, torch.Tensor]]:
            info = get_worker_info()
            worker, workers = (info.id, info.num_workers) if info else (0, 1)
            client = s3_client(args.endpoint)  # one client per worker process: boto3 clients are not fork-safe
            for shard in self.shards[worker::workers]:
                body = client.get_object(Bucket=args.bucket, Key=shard["key"])["Body"]
                digest = hashlib.sha256()
                seen = 0
                pending = b""
                for chunk in body.iter_chunks(chunk_size=64 * 1024):
                    digest.update(chunk)
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    for line in complete:
                        if line:
                            record = json.loads(line)
                            seen += 1
                            yield record["id"], torch.tensor(record["tokens"], dtype=torch.long)
                if pending:
                    raise ValueError(f"{shard['key']}: last line has no newline")
                if digest.hexdigest() != shard["sha256"] or seen != shard["samples"]:
                    raise ValueError(f"{shard['key']}: sha256/sample count differ from the manifest")

    def collate(batch: list[tuple[int, torch.Tensor]]) -> tuple[list[int], torch.Tensor, torch.Tensor]:
        ids = [i for i, _ in batch]
        tokens = torch.full((len(batch), SEQ_LEN), -100, dtype=torch.long)
        for row, (_, t) in enumerate(batch):
            tokens[row, : len(t)] = t
        inputs = tokens[:, :-1].clamp(min=0)
        targets = tokens[:, 1:].clone()
        targets[tokens[:, :-1] < 0] = -100
        return ids, inputs, targets

    torch.manual_seed(args.seed)
    model = torch.nn.Sequential(torch.nn.Embedding(VOCAB, 32), torch.nn.ReLU(), torch.nn.Linear(32, VOCAB))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-2)
    loader = DataLoader(ShardStream(manifest["shards"]), batch_size=args.batch_size, num_workers=args.workers,
                        collate_fn=collate)
    counts: Counter[int] = Counter()
    losses: list[float] = []
    for ids, inputs, targets in loader:
        counts.update(ids)
        logits = model(inputs)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))

    expected = set(range(manifest["total_samples"]))
    duplicates = sorted(i for i, c in counts.items() if c > 1)
    missing = sorted(expected - set(counts))
    unexpected = sorted(set(counts) - expected)
    head, tail = losses[: max(1, len(losses) // 10)], losses[-max(1, len(losses) // 10):]
    report = {
        "workers": args.workers,
        "steps": len(losses),
        "samples_read": sum(counts.values()),
        "total_samples": manifest["total_samples"],
        "duplicates": duplicates[:20],
        "missing": missing[:20],
        "unexpected": unexpected[:20],
        "loss_first": sum(head) / len(head) if losses else None,
        "loss_last": sum(tail) / len(tail) if losses else None,
    }
    ok = (not duplicates and not missing and not unexpected and losses
          and report["loss_last"] < report["loss_first"])  # type: ignore[operator]
    report["ok"] = bool(ok)
    print(json.dumps(report))
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("prepare", "train"):
        p = sub.add_parser(name)
        p.add_argument("--endpoint", help="S3 endpoint URL, e.g. http://127.0.0.1:9000 (default: AWS_ENDPOINT_URL)")
        p.add_argument("--bucket", required=True)
        p.add_argument("--prefix", default="toy/")
        p.add_argument("--seed", type=int, default=1)
        if name == "prepare":
            p.add_argument("--shards", type=int, default=8)
            p.add_argument("--samples-per-shard", type=int, default=500)
        else:
            p.add_argument("--workers", type=int, default=4)
            p.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    return prepare(args) if args.command == "prepare" else train(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
