"""Per-step overhead of running a pipeline in-process: distill vs peers.

Two shapes of N trivial steps (each ``return x + 1``):
  chain   s0 -> s1 -> ... -> s{N-1}
  fanout  root -> f1, root -> f2, ..., root -> f{N-1}

Rows, each the median of --repeats timed runs (time.perf_counter):
  plain python          the steps called by straight-line code (the baseline)
  distill cache off     Pipeline.run(cache=False), graph built beforehand
  distill cache on      Pipeline.run(cache=True, store=<fresh folder>): all misses
  distill cache hits    the same store again: all hits
  hamilton              Driver.execute(sinks), driver built beforehand
  kedro                 SequentialRunner().run(pipeline, DataCatalog()), pipeline built beforehand
  dask                  dask.get(graph, sinks): the synchronous scheduler
and the time to build each graph, reported separately.

overhead/step = (median - plain median) / N, in microseconds.
x distill     = median / (distill cache off median), same shape and N.

Usage:  python benchmarks/bench_overhead.py [--sizes 100,1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (
    Timing,
    chain_names,
    fanout_names,
    fmt_num,
    header,
    import_generated,
    measure,
    pipeline_source,
    print_table,
    short_error,
    tmp_root,
)

BUDGET = 10.0  # seconds per measurement: stop repeating once exceeded (>= 1 run)
TARGET_OFF = 10.0  # us/step, distill cache off, N=1000
TARGET_ON = 100.0  # us/step, distill cache on (all misses), N=1000


class Row:
    def __init__(self, tool, timing: Timing | None = None, note="", kind="run", target=None):
        self.tool = tool
        self.timing = timing
        self.note = note
        self.kind = kind  # "run" | "build" | "plain"
        self.target = target  # us/step ceiling, or None


def expected(shape: str, n: int) -> tuple[str, int]:
    """Name of one sink and the value it must have."""
    if shape == "chain":
        return f"s{n - 1}", n
    return f"f{n - 1}", 2


def sinks(shape: str, n: int) -> list[str]:
    return [f"s{n - 1}"] if shape == "chain" else fanout_names(n)[1:]


# ---------------------------------------------------------------- distill


def bench_distill(shape, n, dmod, repeats) -> list[Row]:
    try:
        import distill
    except ImportError:
        return [Row("distill", note="skipped: distill not installed")]
    rows: list[Row] = []
    sink, value = expected(shape, n)

    def build():
        if hasattr(distill.Pipeline, "from_module"):
            return distill.Pipeline.from_module(dmod)
        names = chain_names(n) if shape == "chain" else fanout_names(n)
        return distill.Pipeline.from_functions([getattr(dmod, x) for x in names])

    try:
        pipe = build()
        rows.append(
            Row(
                "distill build (from_module)",
                measure(build, repeats=repeats, budget=BUDGET),
                kind="build",
            )
        )
    except Exception as exc:  # report and go on
        return [Row("distill build (from_module)", note=f"error: {short_error(exc)}")]

    def check(out, label):
        got = out.get(sink) if hasattr(out, "get") else None
        if got != value:
            return f"WRONG RESULT ({label}): {sink}={got!r}, expected {value}"
        if hasattr(out, "get") and len(out) < n:
            return f"returned {len(out)} of {n} outputs"
        return ""

    # cache off
    try:
        note = check(pipe.run(cache=False), "cache off")
        t = measure(lambda: pipe.run(cache=False), repeats=repeats, warmup=1, budget=BUDGET)
        rows.append(Row("distill cache off", t, note, target=TARGET_OFF))
    except Exception as exc:
        rows.append(Row("distill cache off", note=f"error: {short_error(exc)}", target=TARGET_OFF))

    # cache on: a fresh store for every repeat = all misses
    stores = tmp_root() / "stores"
    stores.mkdir(exist_ok=True)
    current: list[Path] = []
    counter = [0]

    def fresh_store():
        if current:
            shutil.rmtree(current.pop(), ignore_errors=True)
        counter[0] += 1
        d = stores / f"{shape}-{n}-{counter[0]}"
        d.mkdir()
        current.append(d)

    try:
        fresh_store()
        note = check(pipe.run(cache=True, store=str(current[0])), "cache on")
        t = measure(
            lambda: pipe.run(cache=True, store=str(current[0])),
            setup=fresh_store,
            repeats=repeats,
            budget=BUDGET,
        )
        rows.append(Row("distill cache on (all misses)", t, note, target=TARGET_ON))
    except Exception as exc:
        rows.append(
            Row(
                "distill cache on (all misses)", note=f"error: {short_error(exc)}", target=TARGET_ON
            )
        )

    # cache on, same store again: all hits
    try:
        fresh_store()
        store = str(current[0])
        pipe.run(cache=True, store=store)  # populate
        note = check(pipe.run(cache=True, store=store), "cache hits")
        t = measure(lambda: pipe.run(cache=True, store=store), repeats=repeats, budget=BUDGET)
        rows.append(Row("distill cache on (all hits)", t, note))
    except Exception as exc:
        rows.append(Row("distill cache on (all hits)", note=f"error: {short_error(exc)}"))
    if current:
        shutil.rmtree(current.pop(), ignore_errors=True)
    return rows


# ---------------------------------------------------------------- peers


def bench_hamilton(shape, n, pmod, repeats) -> list[Row]:
    try:
        from hamilton import base, driver
    except ImportError:
        return [Row("hamilton", note="skipped: sf-hamilton not installed")]
    logging.getLogger("hamilton").setLevel(logging.CRITICAL)
    rows: list[Row] = []

    def build():
        return driver.Builder().with_modules(pmod).with_adapters(base.DictResult()).build()

    try:
        dr = build()
        rows.append(
            Row(
                "hamilton build (Builder)",
                measure(build, repeats=repeats, budget=BUDGET),
                kind="build",
            )
        )
    except Exception as exc:
        return [Row("hamilton build (Builder)", note=f"error: {short_error(exc)}")]

    variants = [("hamilton execute(sinks)", sinks(shape, n))]
    if shape == "chain":
        variants.append(("hamilton execute(all N)", chain_names(n)))
    for label, final_vars in variants:
        try:
            dr.execute(final_vars)
            t = measure(lambda fv=final_vars: dr.execute(fv), repeats=repeats, budget=BUDGET)
            rows.append(Row(label, t))
        except RecursionError as exc:
            rows.append(Row(label, note=f"RecursionError: {str(exc)[:60]}"))
        except Exception as exc:
            rows.append(Row(label, note=f"error: {short_error(exc)}"))
    return rows


def bench_kedro(shape, n, pmod, repeats) -> list[Row]:
    # Importing kedro configures logging and logs one INFO line about it.
    logging.disable(logging.INFO)
    try:
        import kedro  # noqa: F401
        from kedro.io import DataCatalog
        from kedro.pipeline import Pipeline, node
        from kedro.runner import SequentialRunner
    except ImportError:
        return [Row("kedro", note="skipped: kedro not installed")]
    finally:
        logging.disable(logging.NOTSET)
    # Kedro logs one INFO line per node; keep it to warnings so the console
    # is not part of the measurement.
    for name in ("kedro", "kedro.runner", "kedro.io", "kedro.pipeline"):
        logging.getLogger(name).setLevel(logging.WARNING)
    rows: list[Row] = []

    def build():
        nodes = []
        for name, ins in pmod.DEPS.items():
            inputs = ins[0] if len(ins) == 1 else (ins or None)
            nodes.append(node(getattr(pmod, name), inputs, name, name=name))
        return Pipeline(nodes)

    try:
        pipeline = build()
        rows.append(
            Row(
                "kedro build (Pipeline)",
                measure(build, repeats=repeats, budget=BUDGET),
                kind="build",
            )
        )
    except Exception as exc:
        return [Row("kedro build (Pipeline)", note=f"error: {short_error(exc)}")]

    sink, value = expected(shape, n)
    try:
        out = SequentialRunner().run(pipeline, DataCatalog())
        got = out.get(sink)
        got = got.load() if hasattr(got, "load") else got
        note = "" if got == value else f"WRONG RESULT: {sink}={got!r}"
        catalog: list = [None]

        def new_catalog():  # untimed: a fresh, empty catalog per run
            catalog[0] = DataCatalog()

        t = measure(
            lambda: SequentialRunner().run(pipeline, catalog[0]),
            setup=new_catalog,
            repeats=repeats,
            budget=BUDGET,
        )
        rows.append(Row("kedro SequentialRunner", t, note))
    except RecursionError as exc:
        rows.append(Row("kedro SequentialRunner", note=f"RecursionError: {str(exc)[:60]}"))
    except Exception as exc:
        rows.append(Row("kedro SequentialRunner", note=f"error: {short_error(exc)}"))
    return rows


def bench_dask(shape, n, pmod, repeats) -> list[Row]:
    try:
        import dask
    except ImportError:
        return [Row("dask", note="skipped: dask not installed")]
    rows: list[Row] = []

    def build():
        return {name: (getattr(pmod, name), *ins) for name, ins in pmod.DEPS.items()}

    graph = build()
    rows.append(Row("dask build (graph dict)", measure(build, repeats=repeats), kind="build"))
    keys = sinks(shape, n)
    try:
        dask.get(graph, keys)
        t = measure(lambda: dask.get(graph, keys), repeats=repeats, budget=BUDGET)
        rows.append(Row("dask.get (sync scheduler)", t))
    except RecursionError as exc:
        rows.append(Row("dask.get (sync scheduler)", note=f"RecursionError: {str(exc)[:60]}"))
    except Exception as exc:
        rows.append(Row("dask.get (sync scheduler)", note=f"error: {short_error(exc)}"))
    return rows


# ---------------------------------------------------------------- main


def bench_case(shape: str, n: int, repeats: int, tools: set[str]) -> None:
    pmod = import_generated(f"bench_plain_{shape}_{n}", pipeline_source(shape, n, decorate=False))
    rows: list[Row] = []
    plain = measure(pmod._plain, repeats=max(repeats, 20), warmup=3)
    rows.append(Row("plain python", plain, kind="plain"))

    if "distill" in tools:
        try:
            dmod = import_generated(
                f"bench_distill_{shape}_{n}", pipeline_source(shape, n, decorate=True)
            )
        except ImportError as exc:
            rows.append(Row("distill", note=f"skipped: distill not installed ({short_error(exc)})"))
        except Exception as exc:
            rows.append(Row("distill", note=f"error importing @step module: {short_error(exc)}"))
        else:
            rows += bench_distill(shape, n, dmod, repeats)
    if "hamilton" in tools:
        rows += bench_hamilton(shape, n, pmod, repeats)
    if "kedro" in tools:
        rows += bench_kedro(shape, n, pmod, repeats)
    if "dask" in tools:
        rows += bench_dask(shape, n, pmod, repeats)

    ref = next((r.timing.median for r in rows if r.tool == "distill cache off" and r.timing), None)
    table = []
    for r in rows:
        if r.timing is None:
            table.append([r.tool, "-", "-", "-", "-", "", r.note])
            continue
        med = r.timing.median
        if r.kind == "run":
            per_step = (med - plain.median) / n * 1e6
        elif r.kind == "build":
            per_step = med / n * 1e6
        else:
            per_step = None
        ratio = f"{med / ref:.2f}x" if (ref and r.kind == "run") else "-"
        target = ""
        if r.target is not None:
            if n >= 1000:
                verdict = "met" if per_step <= r.target else "NOT MET"
                target = f"<= {r.target:g} us/step @1000: {verdict}"
            else:
                target = f"(<= {r.target:g} us/step @1000)"
        table.append(
            [
                r.tool,
                fmt_num(med * 1e3),
                str(r.timing.n),
                fmt_num(per_step) if per_step is not None else "-",
                ratio,
                target,
                r.note,
            ]
        )
    print_table(
        f"== {shape}, N={n} (plain python median of {plain.n}: {plain.median * 1e6:.1f} us)",
        ["tool", "median ms", "runs", "overhead us/step", "x distill", "target", "note"],
        table,
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="100,1000", help="comma-separated N (default 100,1000)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per figure (default 5)")
    ap.add_argument("--shapes", default="chain,fanout")
    ap.add_argument("--tools", default="distill,hamilton,kedro,dask")
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",") if x]
    tools = set(args.tools.split(","))
    header("bench_overhead: per-step overhead, in-process")
    print(
        "overhead/step = (median - plain)/N; build rows: median/N. "
        "x distill = median / distill cache-off median."
    )
    print(
        "hamilton/kedro/dask are asked for the sinks (kedro returns its free outputs); "
        "distill.run returns all outputs."
    )
    for shape in args.shapes.split(","):
        for n in sizes:
            bench_case(shape, n, args.repeats, tools)
    return 0


if __name__ == "__main__":
    sys.exit(main())
