#!/usr/bin/env bash
# Runs every wrapper's <tests> and every workflow's test in a real Galaxy server on 127.0.0.1:
# SQLite, no conda, no containers, the wrappers' `llm4ms` taken from the project's .venv.
# Usage: galaxy_wrappers/galaxy-test.sh [WORK_DIR]   (what `make galaxy-test` runs)
# Environment: GALAXY_VENV (.venv-galaxy), TOOLS_VENV (.venv-tools, for planemo), LLM4MS_VENV (.venv),
# GALAXY_PORT (a free port), LLM4MS_CACHE (the converted backbone; default ~/.cache/llm4ms).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mkdir -p "${1:-$root/.galaxy-test}" && cd "${1:-$root/.galaxy-test}" && pwd)
galaxy_venv=${GALAXY_VENV:-$root/.venv-galaxy}
tools_venv=${TOOLS_VENV:-$root/.venv-tools}
llm4ms_bin=${LLM4MS_VENV:-$root/.venv}/bin
cache=${LLM4MS_CACHE:-$HOME/.cache/llm4ms}
for needed in "$galaxy_venv/bin/galaxy-web" "$tools_venv/bin/planemo" "$llm4ms_bin/llm4ms"; do
    [[ -x $needed ]] || { echo "galaxy-test: $needed is missing; run 'make galaxy-test'" >&2; exit 2; }
done
port=${GALAXY_PORT:-$("$galaxy_venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
url=http://127.0.0.1:$port
# Only this throwaway server ever sees the key.
key=llm4ms-galaxy-test-$(date +%s)-$$
tools=(llm4ms_textualize llm4ms_embed llm4ms_build_index llm4ms_search llm4ms_score llm4ms_train)

# A fresh database and job area each run, so a run never depends on what an earlier one left.
rm -rf "$work/data" "$work/results"
mkdir -p "$work/data" "$work/results"

{
    echo '<?xml version="1.0"?>'
    echo '<toolbox monitor="false">'
    echo '  <section id="llm4ms" name="LLM4MS: compound identification">'
    for tool in "${tools[@]}"; do
        echo "    <tool file=\"$root/galaxy_wrappers/$tool.xml\"/>"
    done
    echo '  </section>'
    echo '</toolbox>'
} > "$work/tool_conf.xml"

# Galaxy's sample data tables fetch genome lists from outside hosts; this server needs none.
echo '<tables/>' > "$work/tool_data_table_conf.xml"

cat > "$work/galaxy.yml" <<YAML
gravity:
  process_manager: null
galaxy:
  data_dir: $work/data
  database_connection: sqlite:///$work/data/universe.sqlite?isolation_level=IMMEDIATE
  tool_config_file: $work/tool_conf.xml
  tool_data_path: $work/data/tool-data
  tool_data_table_config_path: $work/tool_data_table_conf.xml
  bootstrap_admin_api_key: $key
  admin_users: admin@llm4ms.test
  # Requirements are not resolved: the jobs find llm4ms on the PATH below, never through conda.
  conda_auto_init: false
  conda_auto_install: false
  dependency_resolvers:
    - type: galaxy_packages
  enable_mulled_containers: false
  cleanup_job: onsuccess
  log_level: INFO
  job_config:
    runners:
      local:
        load: galaxy.jobs.runners.local:LocalJobRunner
        workers: 2
    execution:
      default: local
      environments:
        local:
          runner: local
          env:
            - name: PATH
              value: $llm4ms_bin:/usr/local/bin:/usr/bin:/bin
            - name: LLM4MS_CACHE
              value: $cache
YAML

server_log=$work/results/galaxy-server.log
echo "galaxy-test: starting Galaxy on $url (log: $server_log)"
started=$SECONDS
PATH="$galaxy_venv/bin:$PATH" "$galaxy_venv/bin/galaxy-web" -c "$work/galaxy.yml" -b "127.0.0.1:$port" \
    > "$server_log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT

until curl -fsS "$url/api/version" > /dev/null 2>&1; do
    if ! kill -0 "$server" 2>/dev/null; then
        echo "galaxy-test: Galaxy exited while starting; the end of its log:" >&2
        tail -n 40 "$server_log" >&2
        exit 1
    fi
    if (( SECONDS - started > 600 )); then
        echo "galaxy-test: Galaxy did not answer within 600 s" >&2
        exit 1
    fi
    sleep 3
done
echo "galaxy-test: Galaxy $(curl -fsS "$url/api/version") answered after $((SECONDS - started)) s"

status=0
tests_started=$SECONDS
for tool in "${tools[@]}"; do
    "$galaxy_venv/bin/galaxy-tool-test" -u "$url" -a "$key" -t "$tool" \
        -j "$work/results/$tool.json" -o "$work/results/$tool" --history-per-test-case --parallel-tests 2 \
        > "$work/results/$tool.log" 2>&1 || status=1
done
echo "galaxy-test: tool tests took $((SECONDS - tests_started)) s"

workflows=()
for ga in "$root"/galaxy_wrappers/workflows/*.ga; do
    workflow=$(basename "$ga" .ga)
    workflows+=("$workflow")
    workflow_started=$SECONDS
    "$tools_venv/bin/planemo" test --engine external_galaxy --galaxy_url "$url" --galaxy_admin_key "$key" \
        --test_output "$work/results/$workflow.html" --test_output_json "$work/results/$workflow.json" \
        "$ga" > "$work/results/$workflow.log" 2>&1 || status=1
    echo "galaxy-test: workflow $workflow took $((SECONDS - workflow_started)) s"
done

"$galaxy_venv/bin/python" "$root/galaxy_wrappers/summarize_tests.py" "$work/results" "${tools[@]}" "${workflows[@]}" \
    | tee "$work/results/summary.txt" || status=1
exit $status
