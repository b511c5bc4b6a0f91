#!/usr/bin/env bash
# The pipeline end to end on the bundled test data with the default backbone:
# textualize -> embed -> build-index -> search -> score, for an EI pair and an MS/MS pair.
set -euo pipefail
out=${1:-demo-out}
data=$(cd "$(dirname "$0")/../test-data" && pwd)
mkdir -p "$out"
cd "$out"

top_hits() {  # query, score and name of each query's first hit
    awk -F'\t' 'NR > 2 && $2 == 1 { printf "  %-40s %.4f  %s\n", $1, $3, $5 }' "$1"
}

echo "== EI: $(basename "$data")/ei_queries.msp against ei_library.msp (ei template)"
llm4ms textualize "$data/ei_library.msp" -o ei_library.parquet --rejected ei_library.rejected.tsv
llm4ms textualize "$data/ei_queries.msp" -o ei_queries.parquet
llm4ms embed ei_library.parquet -o ei_library.emb.parquet
llm4ms embed ei_queries.parquet -o ei_queries.emb.parquet
llm4ms build-index ei_library.emb.parquet -o ei_library.index
llm4ms search ei_queries.emb.parquet ei_library.index -o ei_hits.tsv
echo "Top hits:"; top_hits ei_hits.tsv
llm4ms score ei_hits.tsv --truth ei_queries.parquet -o ei_scores.tsv --summary ei_summary.json --plot ei_recall.png

echo "== MS/MS: ms2_queries.mgf against ms2_library.mgf, the queries as one pipe"
llm4ms textualize "$data/ms2_library.mgf" -o - | llm4ms embed - -o - | llm4ms build-index - -o ms2_library.index
llm4ms textualize "$data/ms2_queries.mgf" -o ms2_queries.parquet
llm4ms embed ms2_queries.parquet -o - | llm4ms search - ms2_library.index -o ms2_hits.tsv
echo "Top hits:"; top_hits ms2_hits.tsv
llm4ms score ms2_hits.tsv --truth ms2_queries.parquet -o ms2_scores.tsv --summary ms2_summary.json \
    --plot ms2_recall.png

echo "== mzML: the same MS/MS queries as instrument scans (native ids; the MS1 survey scan is reported)"
llm4ms textualize "$data/ms2_queries.mzML" -o - --rejected mzml.rejected.tsv | llm4ms embed - -o - \
    | llm4ms search - ms2_library.index -o mzml_hits.tsv --precursor-window 0.01
echo "Top hits within 0.01 Da of the precursor (mzML carries no structures, so there is nothing to score):"
top_hits mzml_hits.tsv
echo "Outputs are in $(pwd)"
