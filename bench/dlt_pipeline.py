"""The same job done with dlt: its rest_api source, the same offset paginator, JSONL files on local disk.

By default dlt does what it does out of the box: nested lists (tags, images, reviews) become child tables.
`--flat` is its most favourable setting for this job: nested fields stay JSON (`max_table_nesting=0`), so
there is nothing to normalise. Either way files are not gzipped (etl writes plain JSONL too), telemetry is
off and dlt's state lives in a throwaway directory. A run covers all of dlt: extract, normalise and load.

    python bench/dlt_pipeline.py URL OUT_DIR [--limit 100] [--flat]

URL is the catalogue's `/products` endpoint; the JSONL files land under OUT_DIR.
"""

from __future__ import annotations

import argparse
import os
import tempfile


def run(url: str, out_dir: str, limit: int, flat: bool = False) -> int:
    work = tempfile.mkdtemp(prefix="dlt-bench-")
    os.environ.update({
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "DATA_WRITER__DISABLE_COMPRESSION": "true",
        "DLT_DATA_DIR": work,
        "DLT_PROJECT_DIR": work,
    })
    import dlt
    from dlt.sources.rest_api import rest_api_source

    base, _, resource = url.rstrip("/").rpartition("/")
    nesting = {"max_table_nesting": 0} if flat else {}
    source = rest_api_source({
        "client": {"base_url": base + "/"},
        "resources": [{
            "name": resource,
            **nesting,
            "endpoint": {
                "path": resource,
                "data_selector": "products",
                "paginator": {"type": "offset", "limit": limit, "offset_param": "skip", "limit_param": "limit",
                              "total_path": "total"},
            },
        }],
    }, **nesting)
    pipeline = dlt.pipeline(
        pipeline_name="bench_catalogue",
        pipelines_dir=os.path.join(work, "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=os.path.abspath(out_dir)),
        dataset_name="catalogue",
        progress=None,
    )
    info = pipeline.run(source, loader_file_format="jsonl")
    info.raise_on_failed_jobs()
    return int(pipeline.last_trace.last_normalize_info.row_counts.get(resource, 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("out_dir")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--flat", action="store_true", help="keep nested fields as JSON (no child tables)")
    args = parser.parse_args()
    rows = run(args.url, args.out_dir, args.limit, args.flat)
    print(f"{rows} rows")


if __name__ == "__main__":
    main()
