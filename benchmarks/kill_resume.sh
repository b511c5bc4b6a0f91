#!/bin/bash
# Kill-and-resume at dev scale: `llm4ms embed` of the 1,615 MS/MS dev queries (default model, chunks of
# 256) killed with SIGKILL once 3 chunks are done, the same command run again, and an uninterrupted run
# to compare with. Run from the project root: bash benchmarks/kill_resume.sh
set -u
DATA=${LLM4MS_DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data/massbank}
LL=${LLM4MS:-$(pwd)/.venv/bin/llm4ms}
WORK=$(mktemp -d /tmp/llm4ms-kill-resume.XXXX)
cd "$WORK" || exit 1
$LL textualize "$DATA/ms2pos_queries.mgf" -o q.parquet -q 2> /dev/null
seconds() { echo "$(date +%s.%N) - $1" | bc; }
start=$(date +%s.%N)
$LL embed q.parquet -o a.parquet --chunk-rows 256 -q 2> /dev/null &
pid=$!
while [ "$(ls .a.parquet.llm4ms-resume/chunk-*.parquet 2>/dev/null | wc -l)" -lt 3 ]; do sleep 0.2; done
kill -9 $pid
wait $pid 2> /dev/null
echo "killed (exit $?) after $(seconds "$start") s; chunks kept: $(ls .a.parquet.llm4ms-resume/chunk-*.parquet | wc -l); output written: $([ -e a.parquet ] && echo yes || echo no)"
start=$(date +%s.%N)
$LL embed q.parquet -o a.parquet --chunk-rows 256 -q
echo "same command again: exit $? in $(seconds "$start") s"
start=$(date +%s.%N)
$LL embed q.parquet -o b.parquet --chunk-rows 256 -q 2> /dev/null
echo "uninterrupted run: exit $? in $(seconds "$start") s"
cmp -s a.parquet b.parquet && echo "byte-identical to the uninterrupted run: yes ($(stat -c %s a.parquet) bytes)" \
    || echo "byte-identical to the uninterrupted run: NO"
"$(dirname "$LL")/python" -c "
import pyarrow.parquet as pq
out = pq.read_table('a.parquet', columns=['id']).column('id').to_pylist()
inp = pq.read_table('q.parquet', columns=['id']).column('id').to_pylist()
print(f'rows: {len(out)} of {len(inp)}; same ids in input order: {out == inp}; each once: {len(set(out)) == len(out)}')"
ls -a | grep -q llm4ms-resume && echo "resume folder left: yes" || echo "resume folder left: no"
cd / && rm -rf "$WORK"
