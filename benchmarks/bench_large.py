"""Storing and loading one large value: distill's object store vs pyarrow / NumPy alone.

Two values of --gib GiB each (default 1.0; --quick: 0.1):
  frame   a pandas DataFrame of 8 float64 columns (1 GiB: 16M rows), RangeIndex
  array   a 1-D NumPy float64 array

Rows, per value, each the minimum of --repeats runs (default 3), every run in a fresh
interpreter (so that its peak memory is its own):
  reference write  frame: pq.write_table(pa.Table.from_pandas(frame, preserve_index=True),
                   path, compression="none");  array: np.save(path, array)
  reference read   frame: pq.read_table(path).to_pandas();  array: np.load(path)
  distill write    write_value(value, store), into a fresh store each run
  distill read     read_value(kind, digest, store): parse + verify the hash
  before write     what the runner did before streaming: serialize(value) in memory (to_parquet
                   into a BytesIO, then a full read-back to check dtypes) + store.put(bytes)
  before read      what the runner did before: store.get(digest) (read, then hash) + deserialize
  (info) snappy    frame only: pyarrow's write with distill's own settings (Snappy, as
                   pandas' to_parquet), i.e. the format's cost without any store
  (info) hash      the store's content hash (SHA-256) of the object's bytes, already in memory:
                   the floor under any write or read that checks every byte

seconds is wall time; cpu s the CPU time of all the interpreter's threads (process_time):
distill hashes on a helper thread, so its wall time gains from a second idle core and loses
when other work on the machine takes it.

peak = (ru_maxrss - RSS after imports) / value nbytes, in the measuring interpreter. A write
run builds the value first (without transient copies), so its peak includes the value itself
(1.0x) and "extra" = (ru_maxrss - RSS after building the value) / nbytes is what writing it
adds. A read run starts with nothing, so its peak is the loaded value plus what reading adds.

Targets (the issue): distill write <= 1.2x reference write, distill read <= 1.2x reference
read, peak <= 2x the value's nbytes (for writes: the value plus what storing it adds).

Usage:  python benchmarks/bench_large.py [--gib 1.0] [--quick] [--repeats 3] [--keep]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import fmt_num, header, print_table

TARGET_WRITE = 1.2
TARGET_READ = 1.2
TARGET_PEAK = 2.0
COLUMNS = 8


# --------------------------------------------------------------------------
# the measuring child: one operation, one fresh interpreter


def _rss() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return _maxrss()


def _maxrss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _build(kind: str, gib: float):
    """The value, built in place: no transient copy inflates the high-water mark."""
    import numpy as np

    rng = np.random.default_rng(0)
    if kind == "array":
        array = np.empty(int(gib * 2**30) // 8)
        rng.random(out=array)
        return array, array.nbytes
    import pandas as pd

    rows = int(gib * 2**30) // (8 * COLUMNS)
    block = np.empty((COLUMNS, rows))
    for row in block:
        rng.random(out=row)
    frame = pd.DataFrame(block.T, columns=[f"c{i}" for i in range(COLUMNS)], copy=False)
    assert np.shares_memory(frame["c0"].to_numpy(), block), "the frame copied its block"
    return frame, int(frame.memory_usage(index=True, deep=True).sum())


def _before_write(value, root: Path) -> str:
    """The runner's path before streaming: encode in memory, check, then put the bytes."""
    import numpy as np

    from distill.cache.store import ObjectStore

    if isinstance(value, np.ndarray):
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        data = buf.getvalue()
    else:
        import pandas as pd

        buf = io.BytesIO()
        value.to_parquet(buf, engine="pyarrow", index=True)
        data = buf.getvalue()
        back = pd.read_parquet(io.BytesIO(data), engine="pyarrow")  # the old dtype check
        assert list(back.dtypes.astype(str)) == list(value.dtypes.astype(str))
        del back
    return ObjectStore(root).put(data)


def _before_read(kind: str, digest: str, root: Path):
    """The runner's path before: read the whole object, hash it, then decode the bytes."""
    from distill.cache.store import ObjectStore, content_hash

    data = ObjectStore(root).path(digest).read_bytes()
    assert content_hash(data) == digest
    if kind == "array":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data), engine="pyarrow")


def child(spec: dict) -> dict:
    import numpy as np
    import pandas  # noqa: F401 - imported before the baseline RSS, like every row
    import pyarrow as pa
    import pyarrow.parquet as pq

    from distill.cache.serialize import read_value, write_value
    from distill.cache.store import ObjectStore, content_hash

    op, kind, gib, work = spec["op"], spec["kind"], spec["gib"], Path(spec["work"])
    base = _rss()
    value = None
    nbytes = spec.get("nbytes", 0)
    if op.endswith("write") or op == "prepare":
        value, nbytes = _build(kind, gib)
    built = _rss()
    out: dict = {"nbytes": nbytes}
    target = work / spec.get("target", "unused")
    t0 = time.perf_counter()
    c0 = time.process_time()
    if op == "prepare":
        # The files every read run reads: a reference file and one store object.
        if kind == "frame":
            table = pa.Table.from_pandas(value, preserve_index=True)
            pq.write_table(table, work / "ref.parquet", compression="none")
            del table
        else:
            np.save(work / "ref.npy", value)
        stored = write_value(value, ObjectStore(work / "store"))
        out.update(digest=stored.digest, kind=stored.kind, size=stored.size)
    elif op == "ref_write":
        if kind == "frame":
            table = pa.Table.from_pandas(value, preserve_index=True)
            pq.write_table(table, target / "ref.parquet", compression="none")
        else:
            np.save(target / "ref.npy", value)
    elif op == "snappy_write":
        table = pa.Table.from_pandas(value, preserve_index=True)
        pq.write_table(table, target / "ref.parquet", compression="snappy")
    elif op == "ref_read":
        if kind == "frame":
            result = pq.read_table(work / "ref.parquet").to_pandas()
        else:
            result = np.load(work / "ref.npy")
    elif op == "distill_write":
        stored = write_value(value, ObjectStore(target))
        out["digest"] = stored.digest
    elif op == "distill_read":
        result = read_value(spec["stored_kind"], spec["digest"], ObjectStore(work / "store"))
    elif op == "before_write":
        out["digest"] = _before_write(value, target)
    elif op == "before_read":
        result = _before_read(kind, spec["digest"], work / "store")
    elif op == "hash":
        data = ObjectStore(work / "store").path(spec["digest"]).read_bytes()
        t0 = time.perf_counter()
        c0 = time.process_time()
        assert content_hash(data) == spec["digest"]
    else:
        raise ValueError(op)
    out["seconds"] = time.perf_counter() - t0
    out["cpu"] = time.process_time() - c0
    peak = _maxrss()
    out["peak"] = (peak - base) / nbytes
    out["extra"] = (peak - built) / nbytes
    if op.endswith("read"):
        out["shape"] = list(result.shape)  # the parent checks it against the value's
        out["sum"] = float(result.to_numpy()[-1].sum() if kind == "frame" else result[-1000:].sum())
    elif op == "prepare":
        out["shape"] = list(value.shape)
        out["sum"] = float(value.to_numpy()[-1].sum() if kind == "frame" else value[-1000:].sum())
    return out


# --------------------------------------------------------------------------
# the parent: orchestrates the children and prints the table


def run_child(spec: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        check=False,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"{spec['op']} {spec['kind']} failed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


ROWS = [
    # (op, label, reference op for the ratio, target)
    ("ref_write", "reference write", None, None),
    ("distill_write", "distill write_value", "ref_write", TARGET_WRITE),
    ("before_write", "before: serialize + put", "ref_write", None),
    ("snappy_write", "(info) pyarrow write, snappy", "ref_write", None),
    ("ref_read", "reference read", None, None),
    ("distill_read", "distill read_value", "ref_read", TARGET_READ),
    ("before_read", "before: get + deserialize", "ref_read", None),
    ("hash", "(info) content hash of the object", None, None),
]


def bench_kind(kind: str, gib: float, repeats: int, root: Path) -> list[list[str]]:
    work = root / kind
    work.mkdir()
    prepared = run_child({"op": "prepare", "kind": kind, "gib": gib, "work": str(work)})
    ops = [op for op, *_ in ROWS if not (op == "snappy_write" and kind != "frame")]
    results: dict[str, list[dict]] = {op: [] for op in ops}
    for rep in range(repeats):
        for op in ops:  # round robin: load from other work on the machine hits every row alike
            target = f"{op}-{rep}"
            if op.endswith("write"):
                (work / target).mkdir()
            spec = {
                "op": op,
                "kind": kind,
                "gib": gib,
                "work": str(work),
                "target": target,
                "digest": prepared["digest"],
                "stored_kind": prepared["kind"],
                "nbytes": prepared["nbytes"],
            }
            try:
                result = run_child(spec)
            except RuntimeError as exc:
                result = {"error": str(exc)}
            if op in ("distill_write", "before_write") and result.get("digest") not in (None, prepared["digest"]):
                result["error"] = "digest differs from the prepared object"
            if op.endswith("read") and "shape" in result and (result["shape"], result["sum"]) != (prepared["shape"], prepared["sum"]):
                result["error"] = "the value read is not the value written"
            results[op].append(result)
            shutil.rmtree(work / target, ignore_errors=True)
    best = {op: min((r["seconds"] for r in rs if "seconds" in r), default=None) for op, rs in results.items()}
    rows = []
    for op, label, ref, target in ROWS:
        if op not in results:
            continue
        runs = [r for r in results[op] if "seconds" in r]
        errors = [r["error"] for r in results[op] if "error" in r]
        seconds = best[op]
        cpu = min((r["cpu"] for r in runs), default=None)
        ratio = seconds / best[ref] if ref and seconds and best.get(ref) else None
        peak = min((r["peak"] for r in runs), default=None)
        extra = min((max(r["extra"], 0.0) for r in runs), default=None)  # RSS rounding: never < 0
        verdicts = []
        if target is not None and ratio is not None:
            verdicts.append(f"time {'PASS' if ratio <= target else 'FAIL'} (<= {target}x)")
        if op.startswith("distill") and peak is not None:
            verdicts.append(f"peak {'PASS' if peak <= TARGET_PEAK else 'FAIL'} (<= {TARGET_PEAK}x)")
        if errors:
            verdicts.append(f"{len(errors)} failed: {errors[0][:80]}")
        is_write = op.endswith("write")
        rows.append([
            kind,
            label,
            fmt_num(seconds),
            fmt_num(cpu),
            str(len(runs)),
            fmt_num(ratio) if ratio is not None else "",
            fmt_num(peak) if op != "hash" and peak is not None else "",
            fmt_num(extra) if is_write and extra is not None else "",
            "; ".join(verdicts),
        ])
    size = prepared["size"] / 2**30
    print(f"{kind}: {prepared['nbytes'] / 2**30:.3f} GiB in memory; stored as {prepared['kind']}, {size:.3f} GiB", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=1.0, help="size of each value in GiB (default 1.0)")
    parser.add_argument("--quick", action="store_true", help="0.1 GiB (a smoke run, not for reporting)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per row; the minimum is reported")
    parser.add_argument("--kinds", default="frame,array", help="comma-separated: frame,array")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (its path is printed)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    gib = 0.1 if args.quick else args.gib
    header(f"bench_large: one {gib:g} GiB value, stored and loaded")
    root = Path(tempfile.mkdtemp(prefix="distill-bench-large-", dir="/tmp"))
    print(f"temp folder {root}; {args.repeats} runs per row, the minimum reported", flush=True)
    rows: list[list[str]] = []
    try:
        for kind in args.kinds.split(","):
            rows += bench_kind(kind, gib, args.repeats, root)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print_table(
        f"{gib:g} GiB values (seconds: min of {args.repeats}; x ref: / the reference row; "
        "peak, extra: x the value's nbytes)",
        ["value", "row", "seconds", "cpu s", "runs", "x ref", "peak", "extra", "target"],
        rows,
    )
    failed = any("FAIL" in r[-1] or "failed" in r[-1] for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
