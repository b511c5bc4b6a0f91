# Source this from the repo root on the GPU machine:   source .gpu/setup.sh && <command>
# Installs the pinned wheels (transformers 4.44.2, tokenizers 0.19.1, huggingface_hub 0.36.2, llm2vec 0.2.3,
# peft 0.21.2, gguf 0.19.0) into /tmp/site, which shadows the machine's own versions via PYTHONPATH, exports the
# offline/cache variables, and unpacks the reduced SmolLM2 GGUF (.gpu/smollm2-N.gguf.xz, N kept layers, 12 unless
# make_reduced.py was given KEEP_LAYERS) to /tmp/smollm2-N.gguf, exported as LLM4MS_LEASE_MODEL.
# No `set -e`/`exit`: this runs in the caller's shell; failures return 1 so `source ... &&` stops.
_llm4ms_gpu_setup() {
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        "$root"/.gpu/whl/*.whl || { echo "setup.sh: wheel install failed" >&2; return 1; }
    export PYTHONPATH="/tmp/site:$root/tools"
    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
    export LLM4MS_CACHE=/tmp/llm4ms-cache
    mkdir -p "$LLM4MS_CACHE"
    local packed
    packed=("$root"/.gpu/smollm2-*.gguf.xz)
    [ ${#packed[@]} -eq 1 ] && [ -f "${packed[0]}" ] || { echo "setup.sh: need exactly one .gpu/smollm2-*.gguf.xz" >&2; return 1; }
    export LLM4MS_LEASE_MODEL="/tmp/$(basename "${packed[0]}" .xz)"
    python3 - "${packed[0]}" "$LLM4MS_LEASE_MODEL" <<'PY' || { echo "setup.sh: model unpack failed" >&2; return 1; }
import hashlib, lzma, os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
want = open(src[:-len(".xz")] + ".sha256").read().split()[0]
def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()
if not (os.path.exists(dst) and digest(dst) == want):
    with lzma.open(src, "rb") as fin, open(dst + ".part", "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 22)
    if digest(dst + ".part") != want:
        sys.exit("sha256 mismatch after decompressing " + src)
    os.replace(dst + ".part", dst)
print("setup.sh: model ready at", dst)
PY
    python3 -c "
import importlib.metadata as m
def v(p):
    try:
        return m.version(p)
    except m.PackageNotFoundError:
        return 'MISSING'
print('setup.sh: ' + ', '.join(p + ' ' + v(p) for p in ('transformers', 'tokenizers', 'huggingface_hub', 'llm2vec', 'peft', 'gguf', 'torch', 'accelerate')))
import transformers, tokenizers, huggingface_hub
assert transformers.__version__ == '4.44.2' and tokenizers.__version__ == '0.19.1' and huggingface_hub.__version__ == '0.36.2', 'pinned versions are shadowed'
" || { echo "setup.sh: version check failed" >&2; return 1; }
}
_llm4ms_gpu_setup
