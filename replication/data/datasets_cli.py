"""``replication datasets``: list the dataset registry (name, kind, size, files, licence)."""

from __future__ import annotations

import argparse
import json

from replication.data import registry
from replication.strict import to_dict


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="only these sets (default: all)")
    parser.add_argument("--long", action="store_true", help="also print URLs, checksums, layout and manual steps")
    parser.add_argument("--json", action="store_true", help="print the entries as JSON")


def _count(ds: registry.Dataset) -> str:
    return "?" if ds.image_count is None else str(ds.image_count)


def run(args: argparse.Namespace) -> int:
    entries = [registry.get(n) for n in args.names] if args.names else list(registry.datasets().values())
    if args.json:
        print(json.dumps([to_dict(d) for d in entries], indent=1))
        return 0
    rows = [("name", "kind", "size", "files", "images", "license")]
    for d in entries:
        kind = d.kind + (f" (view of {d.parent})" if d.parent else "")
        rows.append((d.name, kind, registry.human_bytes(d.total_bytes), str(len(d.files)), _count(d), d.license))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[5])
    if args.long:
        for d in entries:
            print(f"\n{d.name}: {d.title}")
            print(f"  layout: {d.layout or '(files directly in the folder)'}")
            if d.manual:
                print(f"  by hand: {d.manual}")
            if d.notes:
                print(f"  notes: {d.notes}")
            for f in d.files[:3]:
                sums = ", ".join(f"{a} {v}" for a, v in (("sha256", f.sha256), ("md5", f.md5), ("sha1", f.sha1)) if v)
                print(
                    f"  {f.path}: {', '.join(f.urls) or '(no direct URL)'} [{sums or 'checksum unknown'}; "
                    f"{registry.human_bytes(f.bytes)}]"
                )
            if len(d.files) > 3:
                print(f"  ... and {len(d.files) - 3} more files")
    print("\nimages '?': count unknown; size 'unknown': not published. Download: replication download NAME")
    return 0
