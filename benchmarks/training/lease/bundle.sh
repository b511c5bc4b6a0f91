#!/bin/bash
# Here, from the repository root, before a lease call for one task: (re)build .gpu/, the bundle lease.sh reads on
# the GPU machine, from the MassBank files and the shipped adapter of that task. /tmp does not outlive a session,
# and the fourth lease (2026-11-27) had to rebuild all of this by hand first, so it is one script now (24 minutes
# for EI on 2 cores shared with other work).
#
#   bash benchmarks/training/lease/bundle.sh [ei|ms2] [BUNDLE_DIR]   (default ei, .gpu; TX=DIR keeps the texts, /tmp/tx)
#   KEEP_LAYERS=16 bash benchmarks/training/lease/bundle.sh ei     (smollm2-16.gguf.xz instead of smollm2-12: a depth
#   run's bundle, and the copy the shipped EI adapter names since stage 9 was trained on it, 2026-11-30; a bundle
#   without the copy the task's shipped adapter names serves only INIT=none runs, and the script says so first)
#
# What it makes: the six pinned wheels (Python 3.12 there), the reduced GGUF (make_reduced.py, checked by
# verify.py), the task's training set with the shipped adapter's own confusions as extra hard negatives
# (benchmarks.training.model_negatives), its dev queries, setup.sh and check_tokens.py. The Parquet tables are
# rewritten with zstd (same tables and metadata), which is what let the fourth lease's call fit the 64 MiB cap.
set -euo pipefail
TASK=${1:-ei} BUNDLE=${2:-.gpu}
DATA=../shared/data/massbank TX=${TX:-/tmp/tx} PY=.venv/bin/python LLM4MS=.venv/bin/llm4ms
case $TASK in
    ei) NAME=ei SHIPPED=ei ;;
    ms2) NAME=ms2pos SHIPPED=msms ;;
    *) echo "bundle.sh: task must be ei or ms2, not $TASK" >&2; exit 2 ;;
esac
# lease.sh's default start (make_init.py) is the shipped adapter, which train accepts only on the copy it names
NAMED=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["base_model"]["trained_on"]["name"])' \
    "tools/llm4ms/adapters/$SHIPPED/llm4ms_adapter.json")
NAMED_LAYERS=${NAMED#smollm2-}
if [ "$NAMED" != "smollm2-${KEEP_LAYERS:-12}.gguf" ]; then
    echo "bundle.sh: the shipped $SHIPPED adapter was trained on $NAMED, this bundle will hold" \
        "smollm2-${KEEP_LAYERS:-12}.gguf: it serves only INIT=none runs (KEEP_LAYERS=${NAMED_LAYERS%.gguf} for the other)" >&2
fi
mkdir -p "$TX" "$BUNDLE/whl"
rm -f "$BUNDLE"/smollm2-*.gguf.*  # setup.sh unpacks the one copy it finds

# every table make_reduced.py reads for its token set, so the kept embedding rows (and the file's sha256) stay the same
$LLM4MS textualize "$DATA/ei_library.msp" -o "$TX/ei_library.parquet" -q
$LLM4MS textualize "$DATA/ei_queries.msp" -o "$TX/ei_queries.parquet" -q
$LLM4MS textualize "$DATA/ms2pos_library.mgf" -o "$TX/ms2pos_library.parquet" -q --rejected "$TX/ms2.rej"
$LLM4MS textualize "$DATA/ms2pos_queries.mgf" -o "$TX/ms2pos_queries.parquet" -q --rejected "$TX/ms2q.rej"
$LLM4MS textualize "$DATA/ei_library.msp" -o "$TX/ei_library_paper.parquet" --template paper-ei -q
$LLM4MS textualize "$DATA/ei_queries.msp" -o "$TX/ei_queries_paper.parquet" --template paper-ei -q

# llm2vec 0.2.3 is published as a source archive only, so it is built into a wheel here
.venv/bin/pip download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
    --platform manylinux_2_17_x86_64 --platform any -d "$BUNDLE/whl" transformers==4.44.2 tokenizers==0.19.1 \
    huggingface_hub==0.36.2 peft==0.21.2 gguf==0.19.0
.venv/bin/pip wheel -q --no-deps llm2vec==0.2.3 -w "$BUNDLE/whl"

# the shipped adapter's view of the library, for its confusions below (embed picks the adapter of the texts' template)
$LLM4MS embed "$TX/${NAME}_library.parquet" -o "$TX/${NAME}_library.shipped.emb.parquet" --threads 2 -q
LLM4MS_BUNDLE="$BUNDLE" TX="$TX" $PY benchmarks/training/lease/make_reduced.py
LLM4MS_BUNDLE="$BUNDLE" TX="$TX" $PY benchmarks/training/lease/verify.py

# the mined training set alone: one CPU step is the cheapest way to have train write it
# (a set mined before 2026-11-29 lacks the above_mass column that lease.sh's positives field needs: mined again)
if [ -f "$TX/${NAME}_library.train.parquet" ] && ! $PY -c 'import sys, pyarrow.parquet as pq
sys.exit("above_mass" not in pq.read_schema(sys.argv[1]).names)' "$TX/${NAME}_library.train.parquet"; then
    rm "$TX/${NAME}_library.train.parquet"
fi
if [ ! -f "$TX/${NAME}_library.train.parquet" ]; then
    $LLM4MS train "$TX/${NAME}_library.parquet" -o /tmp/bundle-mine-only \
        --save-examples "$TX/${NAME}_library.train.parquet" --stage supervised --layers 12 --steps 1 --threads 2 -q
    rm -rf /tmp/bundle-mine-only
fi
$PY -m benchmarks.training.model_negatives "$TX/${NAME}_library.train.parquet" \
    "$TX/${NAME}_library.shipped.emb.parquet" -o "$BUNDLE/${NAME}_library.train.parquet"
cp "$TX/${NAME}_queries.parquet" "$BUNDLE/"
$PY - "$BUNDLE/${NAME}_library.train.parquet" "$BUNDLE/${NAME}_queries.parquet" <<'PY'
import os
import sys
import pyarrow.parquet as pq
for path in sys.argv[1:]:
    table = pq.read_table(path)
    pq.write_table(table, path + ".zstd", compression="zstd", compression_level=19)
    assert pq.read_table(path + ".zstd").equals(table)
    os.replace(path + ".zstd", path)
PY
cp benchmarks/training/lease/setup.sh benchmarks/training/lease/check_tokens.py "$BUNDLE/"
du -sh "$BUNDLE"
