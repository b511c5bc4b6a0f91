#!/bin/bash
# One lease call, from the repository root on the GPU machine: concurrent continued supervised stages on the
# shipped adapters, each evaluated on the dev queries at the end, GPU use sampled every 20 s. Concurrent runs
# because one 12-layer run leaves part of the H200 unused: three at once made 1.5x the steps of one
# (2026-11-26, docs/model_card.md section 4).
#
#   bash benchmarks/training/lease/lease.sh TASK_MINUTES DEADLINE_MINUTES [RUN ...]
#   RUN = name:task:batch[:profile[:second[:layers[:positives[:lr]]]]]
#   (profile: llm4ms train --augment-profile, light by default; e.g. eiI:ei:128:instrument eiL:ei:128:light;
#   second, EI only: llm4ms train --also-peak-choice, both texts trained and checked, e.g. eiV:ei:128:instrument:mz-weighted;
#   layers: 12 by default, at most the N of the bundle's smollm2-N.gguf, e.g. d16:ei:128:instrument::16;
#   positives, EI only: llm4ms train --positives, e.g. eiK:ei:128:instrument:::same-kind; the bundle's training set
#   must have been mined with the above_mass column, i.e. by bundle.sh from 2026-11-29 on;
#   lr: this run's peak learning rate instead of $LR, e.g. r2:ei:128:instrument::::2e-4 r6:ei:128:instrument::::6e-4)
#   (default runs: ei:ei:128 ms2:ms2:128 ei256:ei:256, as on 2026-11-26: 6.6 and 7.5 minutes)
#
# The lease returns at most 8 files of at most 16 MB each, and a continued adapter grows by rank 16 a stage
# (19.6 MB at rank 80), so each run's adapter tar comes back in 15 MB parts (NAME.adapter.tar.part-aa, -ab; join
# them with cat), and every run's results.json, log and stderr with the GPU samples in one reports.tar: 2 runs
# make 5 files, 3 runs 7. (The third lease, 2026-11-26, lost both adapters to one tar per run at 39 MB each.)
# LR=X sets every run's peak learning rate (2e-4 unless set; the first stage from a bare backbone had 3e-4).
# MAX_RANK=N caps each saved adapter's rank (llm4ms train --max-rank; each continued stage adds 16 otherwise).
# INIT=none starts every run from the bare backbone (a depth run: the shipped adapters have 12 layers, and a bundle
# made with KEEP_LAYERS=16 is another file than the one they name, so make_init.py's copies would be refused).
# INIT=DIR starts from DIR/ei and DIR/ms2 instead of the shipped adapters; the second call of 2026-11-26, on
# the still-warm machine (it is released after 30 s idle, so have the call ready):
#   mkdir -p /tmp/next && ln -sfn /tmp/lease-ei/ei-continued /tmp/next/ei && \
#   ln -sfn /tmp/lease-ms2/ms2-continued /tmp/next/ms2 && INIT=/tmp/next bash benchmarks/training/lease/lease.sh \
#   4.3 5.0 ei2:ei:128 ms2b:ms2:128
source .gpu/setup.sh || exit 1
if [ -z "$INIT" ]; then
    INIT=/tmp/init
    python3 benchmarks/training/lease/make_init.py "$INIT" || exit 1
fi
(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv -l 20 > /tmp/gpu-utilisation.csv 2>&1) &
SMI=$!
TM=$1 DL=$2
shift 2
RUNS=${*:-ei:ei:128 ms2:ms2:128 ei256:ei:256}
export OMP_NUM_THREADS=$((16 / $(wc -w <<< "$RUNS")))
declare -A FILES=([ei]=ei [ms2]=ms2pos)
pids=() names=() reports=()
for spec in $RUNS; do
    IFS=: read -r name task batch profile second layers positives lr <<< "$spec"
    init="$INIT/$task"
    [ "$INIT" = none ] && init=none
    (python3 -m benchmarks.training.run_variants --model "$LLM4MS_LEASE_MODEL" --device cuda --layers "${layers:-12}" \
        --task "$task:.gpu/${FILES[$task]}_library.train.parquet:.gpu/${FILES[$task]}_queries.parquet" \
        --init "$task:$init" --stages continued --task-minutes "$TM" --deadline-minutes "$DL" \
        --lr "${lr:-${LR:-2e-4}}" --batch-size "$batch" --augment-profile "${profile:-light}" ${MAX_RANK:+--max-rank "$MAX_RANK"} \
        ${second:+--also-peak-choice "$second"} ${positives:+--positives "$positives"} \
        --out "/tmp/lease-$name" --report "/tmp/report-$name" 2> "/tmp/report-$name.err"
     echo "$name exit $?"
     split -b 15000000 "/tmp/report-$name/$task-continued.tar" "$OUT/$name.adapter.tar.part-") &
    pids+=($!) names+=("/tmp/report-$name.err") reports+=("report-$name/results.json" "report-$name/log.txt" "report-$name.err")
done
wait "${pids[@]}"
kill $SMI 2>/dev/null
tar -cf "$OUT/reports.tar" -C /tmp gpu-utilisation.csv "${reports[@]}"
[ "$(ls "$OUT" | wc -l)" -le 8 ] || echo "lease.sh: more than 8 files under \$OUT, some will not come back" >&2
grep -h "continued:" "${names[@]}"
