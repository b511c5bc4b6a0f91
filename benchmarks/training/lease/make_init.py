"""On the lease machine: copies of the shipped adapters whose base_model names the reduced GGUF copy they
were trained on (ship.py's reverse), so a continued stage accepts them.

  python3 benchmarks/training/lease/make_init.py /tmp/init     → /tmp/init/ei, /tmp/init/ms2
"""

import json
import os
import shutil
import sys

SHIPPED = {"ei": "tools/llm4ms/adapters/ei", "ms2": "tools/llm4ms/adapters/msms"}

for task, source in SHIPPED.items():
    # left behind to fit the transfer limit (README: one task per call); the lease machine's copy of the tree
    # can keep the emptied folder (2026-11-26, third lease), so test for the adapter, not the folder
    if not os.path.isfile(f"{source}/llm4ms_adapter.json"):
        print("init", task, "skipped: no adapter in", source)
        continue
    target = f"{sys.argv[1]}/{task}"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    metadata = json.load(open(f"{target}/llm4ms_adapter.json"))
    trained_on = metadata["base_model"].pop("trained_on")
    metadata["base_model"] = {"name": trained_on["name"], "fingerprint": trained_on["fingerprint"]}
    json.dump(metadata, open(f"{target}/llm4ms_adapter.json", "w"), indent=2, sort_keys=True)
    print("init", target, metadata["base_model"]["fingerprint"][:12])
