"""The ``fgkd`` console command.

    fgkd reproduce [--params NAME_OR_FOLDER] [--only NAME ...] [--jobs N] [--reports DIR] [--force]
                   [--notebooks DIR] [--dry-run]
    fgkd status [--params NAME_OR_FOLDER] [--reports DIR] [--readme README.md]
    fgkd preview [--out PATH] [--image-size N] [--seed S]

Exit status: 0 all went well; 1 a notebook failed (the others still ran) or the preview could not
be written; 2 bad usage or invalid params (nothing was run).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Callable, Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MIN_FREE_BYTES = 1 << 30  # below 1 GiB free in the cache, even a smoke reproduce may run out


def _reproduce(args: argparse.Namespace) -> int:
    from fgkd.paths import ENV_CACHE, StorageError, check_cache_writable, free_bytes, human_bytes
    from fgkd.reproduce.execute import ReproduceConfig, reproduce
    from fgkd.reproduce.manifest import discover_notebooks
    from fgkd.reproduce.params import prepare_params
    from fgkd.reproduce.sets import ParamsError, resolve_params_set

    try:
        overrides = tuple(args.param or ())
        jobs = args.jobs
        if args.nproc_per_node > 1:  # every run trained by N torchrun processes, one notebook at a time
            overrides += (("world_size", args.nproc_per_node),)
            jobs = 1
        config = ReproduceConfig(params=args.params, only=tuple(args.only or ()), jobs=jobs,
                                 reports=args.reports, notebooks=args.notebooks, progress=not args.no_progress,
                                 force=args.force, command=getattr(args, "command_line", ""),
                                 overrides=overrides)
        root = check_cache_writable()  # before anything trains: a read-only cache fails here, named
        free = free_bytes(root)
        if free < MIN_FREE_BYTES:
            raise StorageError(f"no space left in {root} ({human_bytes(free)} free, at least "
                               f"{human_bytes(MIN_FREE_BYTES)} needed to start; a cold embedded reproduce writes "
                               f"about 12 GB); free some space or set {ENV_CACHE} to a folder on a larger disk")
        if args.dry_run:
            pset = resolve_params_set(config.params)
            notebooks = discover_notebooks(config.notebooks, config.only)
            prepared = prepare_params(pset, notebooks, overrides=dict(config.overrides))
            print(f"params set '{pset.name}' ({pset.folder}) is valid for {len(notebooks)} notebook(s); "
                  f"reports would go to {config.reports / pset.name}; cache {root} ({human_bytes(free)} free):")
            for nb in notebooks:
                recipe = prepared[nb.stem].recipe_file
                print(f"  {nb.stem}" + (f"  (shared recipe {recipe})" if recipe else ""))
            return EXIT_OK
        summary = reproduce(config)
    except (ParamsError, ValueError, StorageError) as error:
        print(f"fgkd reproduce: {error}", file=sys.stderr)
        return EXIT_USAGE

    if summary.failed:  # each was printed as it failed (FAILED <name> ...); here only the count, once
        names = ", ".join(r.name for r in summary.failed)
        print(f"fgkd reproduce: {len(summary.failed)} notebook(s) failed: {names} (see each FAILED line above "
              f"and the index)", file=sys.stderr)
    if summary.preview_error:
        print(f"fgkd reproduce: world preview not written: {summary.preview_error}", file=sys.stderr)
    n_ok = len(summary.results) - len(summary.failed)
    print(f"{n_ok}/{len(summary.results)} notebooks ok; index: {summary.index_html}")
    if summary.status_readme is not None:
        print(f"status block of {summary.status_readme} written from {summary.set_dir / 'verdicts.json'}")
    return EXIT_OK if summary.ok else EXIT_FAILED


def _status(args: argparse.Namespace) -> int:
    from fgkd.reproduce.record import status_block, update_readme
    from fgkd.reproduce.sets import ParamsError, resolve_params_set

    try:
        name = resolve_params_set(args.params).name
    except ParamsError as error:
        if not (args.reports / Path(args.params).name).is_dir():
            print(f"fgkd status: {error}", file=sys.stderr)
            return EXIT_USAGE
        name = Path(args.params).name  # a set whose folder is gone, with its reports still there
    try:
        block = status_block(args.reports, name, relative_to=args.readme.parent if args.readme else None)
        if args.readme is None:
            print(block)
            return EXIT_OK
        changed = update_readme(args.readme, block)
    except (OSError, ValueError) as error:  # a missing verdicts.json or README, no markers, a damaged file
        print(f"fgkd status: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.readme}: status block {'updated' if changed else 'unchanged'} from "
          f"{args.reports / name / 'verdicts.json'}")
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    """The headline numbers of every notebook of a set's reports, then its verdicts."""
    import json

    from fgkd.reproduce.record import status_block

    summary = args.reports / args.set / "summary.json"
    try:
        rows = json.loads(summary.read_text())["notebooks"]
        block = status_block(args.reports, args.set)
    except FileNotFoundError as error:
        print(f"fgkd show: {error if 'verdicts' in str(error) else f'{summary} does not exist'}; make it with "
              f"`fgkd reproduce --params {args.set} --reports {args.reports}`", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, KeyError) as error:
        print(f"fgkd show: {summary} is damaged ({error}); run the reproduce again", file=sys.stderr)
        return EXIT_USAGE
    for row in rows:
        headline = row.get("headline") or {}
        kit = ", ".join(f"{k} {v:.2f}" if isinstance(v, (int, float)) else f"{k} —"
                        for k, v in (headline.get("kit") or {}).items())
        paper = ", ".join(f"{k} {v:.2f}" for k, v in (headline.get("paper") or {}).items()
                          if isinstance(v, (int, float)))
        print(f"{row['name']:<24} {row.get('status', '?'):<9} {kit}" + (f"   | paper: {paper}" if paper else ""))
    print()
    print(block)
    return EXIT_OK


def _cache(args: argparse.Namespace) -> int:
    import datetime as dt

    from fgkd import cache
    from fgkd.paths import human_bytes

    if args.action == "list":
        print(cache.format_inventory(cache.inventory()))
        return EXIT_OK
    if args.action == "verify":
        problems = cache.verify()
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s) found" if problems else "every checksum and run record reads back")
        return EXIT_FAILED if problems else EXIT_OK
    # clean
    if not (args.temp or args.runs):
        print("fgkd cache clean: say what to remove: --temp and/or --runs (with --method / --older-than / --params)",
              file=sys.stderr)
        return EXIT_USAGE
    if args.temp:
        temps = cache.stale_temp_files()
        for tmp in temps:
            if not args.dry_run:
                tmp.unlink(missing_ok=True)
        size = sum(t.stat().st_size for t in temps if t.exists()) if args.dry_run else 0
        print(f"{'would remove' if args.dry_run else 'removed'} {len(temps)} temporary file(s) of killed writes"
              + (f" ({human_bytes(size)})" if args.dry_run else ""))
    if args.runs:
        try:
            older = dt.date.fromisoformat(args.older_than) if args.older_than else None
        except ValueError:
            print(f"fgkd cache clean: --older-than takes a date like 2026-11-30, got {args.older_than!r}",
                  file=sys.stderr)
            return EXIT_USAGE
        chosen = cache.select_runs(cache.inventory(), method=args.method, older_than=older, params_set=args.params)
        size = sum(e.size for e in chosen)
        if args.dry_run:
            print(f"would remove {len(chosen)} run(s), {human_bytes(size)}")
        else:
            removed, skipped = cache.remove(chosen)
            print(f"removed {len(removed)} run(s), {human_bytes(sum(e.size for e in removed))}"
                  + (f"; {len(skipped)} skipped (being trained)" if skipped else ""))
    return EXIT_OK


def _preview(args: argparse.Namespace) -> int:
    from fgkd.data.preview import render_preview

    if args.image_size < 8:
        print(f"fgkd preview: --image-size must be at least 8 px, got {args.image_size}", file=sys.stderr)
        return EXIT_USAGE
    args.out.parent.mkdir(parents=True, exist_ok=True)
    path = render_preview(args.out, image_size=args.image_size, seed=args.seed)
    print(f"wrote {path or args.out}")
    return EXIT_OK


def _key_value(text: str) -> tuple[str, object]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: the value is not YAML ({exc})") from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fgkd")
    except PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fgkd", description="Reproducibility kit for LEAD and MaKD: run the notebooks that rebuild each "
                                 "table and figure of the two papers.")
    parser.add_argument("--version", action="version", version=f"fgkd {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    rep = sub.add_parser("reproduce", help="run every notebook with a params set into reports/<set>/",
                         description="Validate all params, run the notebooks with papermill, export HTML and "
                                     "write reports/<set>/index.html and README.md.")
    rep.add_argument("--params", default="embedded", metavar="NAME_OR_FOLDER",
                     help="params set: embedded (default; offline, CPU), paper (real data and models), "
                          "smoke (tiny), or a folder of the same shape (lead.yaml, makd.yaml, <notebook>.yaml)")
    rep.add_argument("--only", nargs="+", action="extend", metavar="NAME",
                     help="run only these notebooks (names or glob patterns such as 'makd_*')")
    rep.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                     help="notebooks executed at once, each in its own process (default 1)")
    rep.add_argument("--reports", type=Path, default=Path("reports"), metavar="DIR",
                     help="reports root; results go to DIR/<params set>/ (default: reports)")
    rep.add_argument("--notebooks", type=Path, default=None, metavar="DIR",
                     help="folder of notebooks and their manifest.yaml (default: the repository's notebooks/)")
    rep.add_argument("--force", action="store_true",
                     help="execute every notebook, also those whose notebook, params and fgkd source are unchanged "
                          "since their last successful run (by default their results are kept)")
    rep.add_argument("-p", "--param", type=_key_value, action="append", metavar="KEY=VALUE",
                     help="override a notebook parameter or a shared recipe key for this run, e.g. -p epochs=10 "
                          "(YAML value; validated like the params files; repeatable)")
    rep.add_argument("--nproc-per-node", type=_positive_int, default=1, metavar="N",
                     help="train every run with N processes under torchrun (one GPU each; the run key holds N and "
                          "the global batch); notebooks then run one at a time. Default 1: in the notebook's process")
    rep.add_argument("--dry-run", action="store_true", help="validate the params and list the notebooks; run nothing")
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    rep.set_defaults(handler=_reproduce)

    sh = sub.add_parser("show", help="a set's headline numbers and verdicts in the terminal",
                        description="Print each notebook's headline numbers (beside the paper's) and every verdict "
                                    "with its interval, from reports/<set>/summary.json and verdicts.json.")
    sh.add_argument("set", nargs="?", default="embedded", help="params set name (default: embedded)")
    sh.add_argument("--reports", type=Path, default=Path("reports"), metavar="DIR", help="reports root")
    sh.set_defaults(handler=_show)

    ca = sub.add_parser("cache", help="look after the cache: list what is there, verify checksums, clean",
                        description="List the cache (worlds, teachers, runs, teacher outputs, aspect scores, LLM "
                                    "replies) with sizes and dates, verify every stored checksum, or remove "
                                    "temporary files of killed writes and runs by method or age.")
    ca.add_argument("action", choices=("list", "verify", "clean"))
    ca.add_argument("--temp", action="store_true", help="clean: temporary files of killed writes (older than 1 h)")
    ca.add_argument("--runs", action="store_true", help="clean: runs (all, or of --method / --older-than)")
    ca.add_argument("--method", choices=("moco", "lead", "simclr", "ibot", "makd"), help="clean --runs: this method's")
    ca.add_argument("--older-than", metavar="YYYY-MM-DD", help="clean --runs: last written before this date")
    ca.add_argument("--params", metavar="SET", help="clean --runs: trained by fgkd reproduce --params SET "
                                                    "(each run records the set it was trained for)")
    ca.add_argument("--dry-run", action="store_true", help="clean: say what would go, remove nothing")
    ca.set_defaults(handler=_cache)

    st = sub.add_parser("status", help="the status block (verdict counts, one row per claim) of a set's reports",
                        description="Write the status text of reports/<set>/verdicts.json and run_record.json: "
                                    "into README.md between <!-- status:begin --> and <!-- status:end --> with "
                                    "--readme, else to the terminal.")
    st.add_argument("--params", default="embedded", metavar="NAME_OR_FOLDER",
                    help="params set whose reports are read (default: embedded)")
    st.add_argument("--reports", type=Path, default=Path("reports"), metavar="DIR",
                    help="reports root holding <set>/verdicts.json (default: reports)")
    st.add_argument("--readme", type=Path, default=None, metavar="README.md",
                    help="replace the status block of this file (default: print the block)")
    st.set_defaults(handler=_status)

    pre = sub.add_parser("preview", help="render the embedded world's preview sheet",
                         description="Render one sheet of example images of every world domain.")
    pre.add_argument("--out", type=Path, default=Path("reports") / "world_preview.png", metavar="PATH",
                     help="PNG to write (default: reports/world_preview.png)")
    pre.add_argument("--image-size", type=int, default=64, metavar="PX", help="image size in pixels (default 64)")
    pre.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    pre.set_defaults(handler=_preview)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fgkd`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.command_line = shlex.join(["fgkd", *argv])
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
