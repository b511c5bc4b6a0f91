"""Cap an existing adapter folder's rank, as `llm4ms train --max-rank` does when it saves one.

  python -m benchmarks.training.fold_adapter tools/llm4ms/adapters/ei /tmp/ei-r64 --rank 64

Used to measure what a cap costs before asking a training run for it (RESULTS.md, third lease).
"""

import argparse
import json
from pathlib import Path

from llm4ms.training.adapters import fold_adapter


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="adapter folder made by llm4ms train")
    parser.add_argument("target", type=Path, help="folder to write (created)")
    parser.add_argument("--rank", type=int, required=True)
    args = parser.parse_args(argv)
    if args.target.exists():
        parser.error(f"{args.target} exists; give a new folder")
    print(json.dumps(fold_adapter(args.source, args.target, args.rank) or {"fold": "none: rank within the cap"}))


if __name__ == "__main__":
    main()
