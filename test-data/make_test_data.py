#!/usr/bin/env python3
"""Build the small bundled test data set in test-data/ from the MassBank benchmark files.

Usage:
    python test-data/make_test_data.py [SOURCE_DIR]

SOURCE_DIR defaults to ../shared/data/massbank relative to the repository root (the folder above
test-data/).  It must hold ei_library.msp, ei_queries.msp, ms2pos_library.mgf and
ms2pos_queries.mgf (MassBank-data release 2025.05.1, converted record by record).

Everything is written next to this script:
    ei_library.msp, ei_queries.msp       EI records, copied verbatim
    ms2_library.mgf, ms2_queries.mgf     positive-mode MS/MS records, copied verbatim
    ms2_queries.mzML                     the MS/MS queries as an indexed mzML (needs psims)
    README.md                            credits and the table of every copied record

The selection and copying use the standard library only; the mzML is written with psims.
The selection is deterministic (no randomness; ties broken by accession).

Selection rules
---------------
Compounds are identified by the first 14 characters of the InChIKey. Records of isotope-labelled
compounds (SMILES with [13C], [2H], ...) and records with placeholder names (containing "_") are
never used.

EI (licences CC BY / CC0; CC BY-SA only if too few candidates):
  * candidate queries: records of ei_queries.msp with an allowed licence whose compound has at least
    one allowed-licence spectrum in ei_library.msp;
  * candidates are grouped by their AUTHORS field; within a group they are ordered by the number of
    allowed library spectra of the compound (more first, capped at 3), then by accession; 12 queries
    are taken round-robin over the groups (groups in alphabetical order);
  * the library gets every allowed-licence spectrum of the query compounds (at most 3 per compound,
    first ones in file order);
  * distractors: allowed-licence library spectra of other compounds (one spectrum per compound),
    picked round-robin over the queries; for each query the next distractor is the unused one with
    the same base peak first, then the highest cosine (unit mass, raw intensities), then accession;
    this goes on until the library holds max(40, true spectra + 12) spectra.

MS/MS (licences CC BY / CC0):
  * candidate queries: [M+H]+ records of ms2pos_queries.mgf with an allowed licence and at least 3
    peaks whose compound has an allowed-licence library spectrum with precursor m/z within 0.01 Da;
  * grouped by contributing lab (second part of the accession); ordered within a lab like EI; 12
    queries taken round-robin over the labs (alphabetical);
  * library: allowed-licence spectra of the query compounds (at most 3 per compound; those with the
    precursor within 0.01 Da of the query first, then file order);
  * distractors (one per compound, other compounds only) round-robin over the queries: precursor m/z
    within 1 Da of the query first, then the highest cosine (0.01 Da tolerance, greedy matching),
    then accession; candidates must either be within 1 Da or share at least 2 of the query's 5
    most intense fragments (0.01 Da); same total size rule as EI.

Records keep their source file order in the output files.
"""

import math
import os
import re
import sys
from bisect import bisect_left
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_SOURCE = os.path.join(REPO, "..", "shared", "data", "massbank")

RELEASE = "2025.05.1"
N_QUERIES = 12
LIBRARY_TARGET = 40
CAP_PER_COMPOUND = 3
PREFERRED = ("CC BY", "CC0")
FALLBACK = ("CC BY-SA",)


# --------------------------------------------------------------------------- reading (verbatim)

def read_text(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return fh.read()


def msp_records(text):
    """Split NIST MSP text into records; each keeps its exact text (without the blank separator)."""
    records = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        block = block.strip("\n")
        meta, peaks, in_peaks = {}, [], False
        for line in block.split("\n"):
            if in_peaks:
                for item in line.split(";"):
                    parts = item.split()
                    if len(parts) >= 2:
                        peaks.append((float(parts[0]), float(parts[1])))
            elif ":" in line:
                key, value = line.split(":", 1)
                meta[key.strip().lower()] = value.strip()
                if key.strip().lower() == "num peaks":
                    in_peaks = True
        records.append({
            "text": block,
            "id": meta["db#"],
            "name": meta.get("name", ""),
            "key14": meta.get("inchikey", "")[:14],
            "license": meta.get("license", ""),
            "authors": meta.get("authors", ""),
            "smiles": meta.get("smiles", ""),
            "precursor_mz": None,
            "peaks": peaks,
            "meta": meta,
        })
    return records


def mgf_records(text):
    """Split MGF text into BEGIN IONS ... END IONS blocks, kept verbatim."""
    records = []
    lines = text.split("\n")
    start = None
    for i, line in enumerate(lines):
        if line.rstrip("\r") == "BEGIN IONS":
            start = i
        elif line.rstrip("\r") == "END IONS" and start is not None:
            block_lines = lines[start:i + 1]
            meta, peaks = {}, []
            for bl in block_lines[1:-1]:
                bl = bl.rstrip("\r")
                if "=" in bl and not bl[:1].isdigit():
                    key, value = bl.split("=", 1)
                    meta[key.strip().upper()] = value.strip()
                else:
                    parts = bl.split()
                    if len(parts) >= 2:
                        peaks.append((float(parts[0]), float(parts[1])))
            records.append({
                "text": "\n".join(block_lines),
                "id": meta.get("SPECTRUM_ID") or meta.get("TITLE"),
                "name": meta.get("COMPOUND_NAME", ""),
                "key14": meta.get("INCHIKEY", "")[:14],
                "license": meta.get("LICENSE", ""),
                "authors": meta.get("AUTHORS", ""),
                "smiles": meta.get("SMILES", ""),
                "precursor_mz": float(meta["PEPMASS"].split()[0]) if meta.get("PEPMASS") else None,
                "peaks": peaks,
                "meta": meta,
            })
            start = None
    return records


# --------------------------------------------------------------------------- similarity

def unit_cosine(a, b):
    va, vb = defaultdict(float), defaultdict(float)
    for mz, inten in a:
        va[int(round(mz))] += inten
    for mz, inten in b:
        vb[int(round(mz))] += inten
    dot = sum(v * vb[k] for k, v in va.items() if k in vb)
    na = math.sqrt(sum(v * v for v in va.values()))
    nb = math.sqrt(sum(v * v for v in vb.values()))
    return dot / (na * nb) if na and nb else 0.0


def greedy_cosine(a, b, tol=0.01):
    a = sorted(a)
    b = sorted(b)
    bm = [p[0] for p in b]
    pairs = []
    for i, (mz, ia) in enumerate(a):
        j = bisect_left(bm, mz - tol)
        while j < len(b) and bm[j] <= mz + tol:
            pairs.append((ia * b[j][1], i, j))
            j += 1
    pairs.sort(key=lambda t: (-t[0], t[1], t[2]))
    used_a, used_b, dot = set(), set(), 0.0
    for score, i, j in pairs:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            dot += score
    na = math.sqrt(sum(p[1] ** 2 for p in a))
    nb = math.sqrt(sum(p[1] ** 2 for p in b))
    return dot / (na * nb) if na and nb else 0.0


def base_peak(peaks):
    return int(round(max(peaks, key=lambda p: (p[1], -p[0]))[0])) if peaks else None


def top_mz(peaks, n=5):
    return [p[0] for p in sorted(peaks, key=lambda p: (-p[1], p[0]))[:n]]


def shared_count(mzs_a, mzs_b, tol=0.01):
    return sum(1 for x in mzs_a if any(abs(x - y) <= tol for y in mzs_b))


# --------------------------------------------------------------------------- selection

def allowed_licences(queries, library, needed):
    """Preferred licences; add the fallback ones only if too few queries would qualify."""
    allowed = set(PREFERRED)
    lib_keys = {r["key14"] for r in library if r["license"] in allowed}
    n = sum(1 for q in queries if q["license"] in allowed and q["key14"] in lib_keys)
    if n < needed:
        allowed |= set(FALLBACK)
    return allowed


def round_robin(groups, n):
    chosen, seen = [], set()
    order = sorted(groups)
    idx = {g: 0 for g in order}
    while len(chosen) < n:
        progressed = False
        for g in order:
            items = groups[g]
            while idx[g] < len(items) and items[idx[g]]["key14"] in seen:
                idx[g] += 1
            if idx[g] < len(items) and len(chosen) < n:
                rec = items[idx[g]]
                idx[g] += 1
                chosen.append(rec)
                seen.add(rec["key14"])
                progressed = True
        if not progressed:
            break
    return chosen


LABELLED = re.compile(r"\[\d+[A-Z]")  # isotope label in SMILES, e.g. [13C], [2H]


def usable(r):
    """Not isotope-labelled and not a placeholder name such as CLC_301.1468_14.3."""
    return not LABELLED.search(r["smiles"]) and "_" not in r["name"] and r["key14"]


def select(queries, library, mode):
    queries = [r for r in queries if usable(r)]
    library = [r for r in library if usable(r)]
    allowed = allowed_licences(queries, library, N_QUERIES)
    lib_ok = [r for r in library if r["license"] in allowed]
    by_key = defaultdict(list)
    for r in lib_ok:
        by_key[r["key14"]].append(r)

    groups = defaultdict(list)
    for q in queries:
        if q["license"] not in allowed or q["key14"] not in by_key:
            continue
        if mode == "ms2":
            if q["meta"].get("ADDUCT") != "[M+H]+" or len(q["peaks"]) < 3:
                continue
            if not any(abs(r["precursor_mz"] - q["precursor_mz"]) <= 0.01 for r in by_key[q["key14"]]):
                continue
            group = q["id"].split("-")[1]
        else:
            group = q["authors"]
        groups[group].append(q)
    for g in groups:
        groups[g].sort(key=lambda q: (-min(CAP_PER_COMPOUND, len(by_key[q["key14"]])), q["id"]))
    chosen_q = round_robin(groups, N_QUERIES)
    if len(chosen_q) < N_QUERIES:
        sys.exit(f"only {len(chosen_q)} {mode} queries qualify")
    query_keys = {q["key14"] for q in chosen_q}

    lib_ids = set()
    for q in chosen_q:
        cands = by_key[q["key14"]]
        if mode == "ms2":
            cands = sorted(cands, key=lambda r: abs(r["precursor_mz"] - q["precursor_mz"]) > 0.01)
        for r in cands[:CAP_PER_COMPOUND]:
            lib_ids.add(r["id"])
    n_true = len(lib_ids)
    target = max(LIBRARY_TARGET, n_true + N_QUERIES)

    # ranked distractor lists per query
    pool = [r for r in lib_ok if r["key14"] not in query_keys]
    ranked = []
    tops = {r["id"]: (base_peak(r["peaks"]) if mode == "ei" else top_mz(r["peaks"])) for r in pool}
    for q in chosen_q:
        scored = []
        if mode == "ei":
            bp = base_peak(q["peaks"])
            for r in pool:
                scored.append(((tops[r["id"]] != bp), -unit_cosine(q["peaks"], r["peaks"]), r["id"], r))
        else:
            qtop = top_mz(q["peaks"])
            for r in pool:
                near = abs(r["precursor_mz"] - q["precursor_mz"]) <= 1.0
                if not near and shared_count(qtop, tops[r["id"]]) < 2:
                    continue
                scored.append((not near, -greedy_cosine(q["peaks"], r["peaks"]), r["id"], r))
        scored.sort(key=lambda t: t[:3])
        ranked.append([t[3] for t in scored])

    used_keys = set(query_keys)
    pos = [0] * len(ranked)
    while len(lib_ids) < target:
        progressed = False
        for i, lst in enumerate(ranked):
            if len(lib_ids) >= target:
                break
            while pos[i] < len(lst) and (lst[pos[i]]["key14"] in used_keys or lst[pos[i]]["id"] in lib_ids):
                pos[i] += 1
            if pos[i] < len(lst):
                r = lst[pos[i]]
                lib_ids.add(r["id"])
                used_keys.add(r["key14"])
                progressed = True
        if not progressed:
            break

    chosen_lib = [r for r in library if r["id"] in lib_ids]  # source file order
    chosen_q_ids = {q["id"] for q in chosen_q}
    chosen_q = [q for q in queries if q["id"] in chosen_q_ids]  # source file order
    return chosen_q, chosen_lib, sorted(allowed)


# --------------------------------------------------------------------------- writing

def write_verbatim(path, records, fmt, source_text):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        for r in records:
            assert r["text"] in source_text, r["id"]
            if fmt == "msp":
                fh.write(r["text"] + "\n\n")
            else:
                fh.write(r["text"] + "\n")


def write_mzml(path, queries):
    import numpy as np
    from psims.mzml.writer import MzMLWriter

    F64 = {"m/z array": np.float64, "intensity array": np.float64}

    # synthetic MS1 survey scan: one peak at each query's precursor m/z
    ms1 = sorted((round(q["precursor_mz"], 4), 1000.0 * (i + 1)) for i, q in enumerate(queries))
    ms1_mz = [p[0] for p in ms1]
    ms1_int = [p[1] for p in ms1]

    with MzMLWriter(open(path, "wb"), close=True) as out:
        out.controlled_vocabularies()
        out.file_description(
            ["MS1 spectrum", "MSn spectrum", "centroid spectrum"],
            source_files=[{
                "id": "SF1", "name": "ms2_queries.mgf", "location": "file://./",
                "params": ["Mascot MGF format", "scan number only nativeID format"],
            }])
        out.software_list([{"id": "psims", "version": "1", "params": ["python-psims"]}])
        # the queries come from QTOF and Orbitrap instruments (INSTRUMENT_TYPE in the MGF)
        ic_tof = out.InstrumentConfiguration(id="IC_QTOF", component_list=[
            out.Source(1, ["electrospray ionization"]),
            out.Analyzer(2, ["quadrupole"]), out.Analyzer(3, ["time-of-flight"]),
            out.Detector(4, ["microchannel plate detector"])])
        ic_ft = out.InstrumentConfiguration(id="IC_ORBITRAP", component_list=[
            out.Source(1, ["electrospray ionization"]),
            out.Analyzer(2, ["orbitrap"]),
            out.Detector(3, ["inductive detector"])])
        out.instrument_configuration_list([ic_tof, ic_ft])
        methods = [out.ProcessingMethod(order=1, software_reference="psims",
                                        params=["Conversion to mzML"])]
        out.data_processing_list([out.DataProcessing(methods, id="DP1")])
        with out.run(id="llm4ms_test_ms2_queries", instrument_configuration="IC_QTOF"):
            with out.spectrum_list(count=len(queries) + 1):
                out.write_spectrum(
                    ms1_mz, ms1_int, id="scan=0", encoding=F64, centroided=True, polarity="positive scan",
                    scan_start_time=0.0,
                    params=["MS1 spectrum", {"ms level": 1},
                            {"total ion current": sum(ms1_int)},
                            {"spectrum title": "synthetic survey scan (precursors of scan=1..%d)"
                             % len(queries)}])
                for i, q in enumerate(queries, start=1):
                    peaks = sorted(q["peaks"])
                    mz = [p[0] for p in peaks]
                    inten = [p[1] for p in peaks]
                    bp = max(peaks, key=lambda p: (p[1], -p[0]))
                    charge = q["meta"].get("CHARGE", "1+")
                    zdigits = re.sub(r"[^0-9]", "", charge) or "1"
                    z = int(zdigits) * (-1 if "-" in charge else 1)
                    activation = ["collision-induced dissociation"]
                    ce = q["meta"].get("COLLISION_ENERGY", "")
                    m = re.fullmatch(r"\s*([0-9.]+)\s*eV\s*", ce)
                    if m:
                        activation.append({"collision energy": float(m.group(1))})
                    params = [
                        "MSn spectrum", {"ms level": 2},
                        {"spectrum title": q["id"]},
                        {"total ion current": sum(inten)},
                        {"base peak m/z": bp[0]},
                        {"name": "base peak intensity", "value": bp[1],
                         "unit_name": "number of detector counts"},
                        {"name": "MassBank accession", "value": q["id"]},
                        {"name": "compound name", "value": q["name"]},
                    ]
                    if ce:
                        params.append({"name": "MassBank COLLISION_ENERGY", "value": ce})
                    ic = "IC_ORBITRAP" if "FT" in q["meta"].get("INSTRUMENT_TYPE", "") else "IC_QTOF"
                    out.write_spectrum(
                        mz, inten, id="scan=%d" % i, encoding=F64, instrument_configuration_id=ic, centroided=True,
                        polarity="positive scan", scan_start_time=0.5 * i, params=params,
                        precursor_information={
                            "mz": q["precursor_mz"], "charge": z, "scan_id": "scan=0",
                            "activation": activation,
                        })


def md_escape(s):
    return s.replace("|", "\\|").replace("\n", " ")


def write_readme(path, rows, lic_sets):
    counts = []
    for f in ("ei_queries.msp", "ei_library.msp", "ms2_queries.mgf", "ms2_library.mgf"):
        roles = [role.split()[0] for fn, role, _ in rows if fn == f]
        if f.endswith("queries.msp") or f.endswith("queries.mgf"):
            counts.append("`%s` %d" % (f, len(roles)))
        else:
            counts.append("`%s` %d (%d match, %d distractor)" % (
                f, len(roles), roles.count("match"), roles.count("distractor")))
    lines = [
        "# test-data",
        "",
        "Small spectra sets for the tests of `llm4ms`. All spectra come from **MassBank**",
        "(MassBank-data release %s, <https://massbank.eu>, MassBank consortium), through the" % RELEASE,
        "converted benchmark files of this project (`shared/data/massbank/`). Each record is",
        "copied verbatim and keeps its own `License`/`LICENSE` and `Authors`/`AUTHORS` fields;",
        "credit goes to MassBank and to the authors listed per record below. Only records",
        "under %s were used." % " / ".join(sorted(set(lic for s in lic_sets for lic in s))),
        "",
        "| file | what |",
        "| --- | --- |",
        "| `ei_library.msp` | EI reference library (NIST MSP): every usable spectrum of the EI query compounds"
        " (max. 3 per compound) plus distractors |",
        "| `ei_queries.msp` | 12 EI query spectra (NIST MSP); each query compound has a spectrum in `ei_library.msp` |",
        "| `ms2_library.mgf` | positive-mode LC-MS/MS reference library (MGF), same idea |",
        "| `ms2_queries.mgf` | 12 MS/MS query spectra (MGF, [M+H]+); each query compound has a library spectrum"
        " from another lab |",
        "| `ms2_queries.mzML` | indexed mzML (written with psims) derived from the 12 records of `ms2_queries.mgf`:"
        " a synthetic MS1 survey scan `scan=0` (one peak at each query precursor m/z), then the queries as"
        " centroided MS2 scans `scan=1`..`scan=12` in the order of `ms2_queries.mgf`, each with the MassBank"
        " accession as `spectrum title` (MS:1000796) and userParam `MassBank accession` |",
        "| `make_test_data.py` | the script that made all of the above (deterministic) |",
        "",
        "Counts: %s." % "; ".join(counts),
        "",
        "Compounds are identified by the first 14 characters of the InChIKey. Distractors are",
        "library spectra of other compounds chosen to look similar to a query (EI: same base peak,",
        "then highest cosine; MS/MS: precursor within 1 Da, then highest cosine), so that search is",
        "not trivial. The exact rules are in the docstring of `make_test_data.py`; rebuild with",
        "`python test-data/make_test_data.py [path/to/massbank]`.",
        "",
        "## Copied records",
        "",
        "Role: `query`; `match` = library spectrum of a query compound; `distractor` = library",
        "spectrum of another compound. For MS/MS queries the mzML scan is given as well.",
        "",
        "| file | role | accession | compound | licence | authors |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for fname, role, r in rows:
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            fname, role, r["id"], md_escape(r["name"]), r["license"], md_escape(r["authors"])))
    lines.append("")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("\n".join(lines))


def main(argv):
    src = os.path.abspath(argv[1] if len(argv) > 1 else DEFAULT_SOURCE)
    texts = {n: read_text(os.path.join(src, n)) for n in
             ("ei_library.msp", "ei_queries.msp", "ms2pos_library.mgf", "ms2pos_queries.mgf")}
    ei_q, ei_lib, ei_lic = select(msp_records(texts["ei_queries.msp"]),
                                  msp_records(texts["ei_library.msp"]), "ei")
    ms_q, ms_lib, ms_lic = select(mgf_records(texts["ms2pos_queries.mgf"]),
                                  mgf_records(texts["ms2pos_library.mgf"]), "ms2")

    write_verbatim(os.path.join(HERE, "ei_library.msp"), ei_lib, "msp", texts["ei_library.msp"])
    write_verbatim(os.path.join(HERE, "ei_queries.msp"), ei_q, "msp", texts["ei_queries.msp"])
    write_verbatim(os.path.join(HERE, "ms2_library.mgf"), ms_lib, "mgf", texts["ms2pos_library.mgf"])
    write_verbatim(os.path.join(HERE, "ms2_queries.mgf"), ms_q, "mgf", texts["ms2pos_queries.mgf"])
    write_mzml(os.path.join(HERE, "ms2_queries.mzML"), ms_q)

    def lib_rows(fname, q, lib):
        keys = {x["key14"] for x in q}
        return [(fname, "match" if r["key14"] in keys else "distractor", r) for r in lib]

    rows = ([("ei_queries.msp", "query", r) for r in ei_q] + lib_rows("ei_library.msp", ei_q, ei_lib)
            + [("ms2_queries.mgf", "query (mzML scan=%d)" % i, r) for i, r in enumerate(ms_q, 1)]
            + lib_rows("ms2_library.mgf", ms_q, ms_lib))
    write_readme(os.path.join(HERE, "README.md"), rows, [ei_lic, ms_lic])

    for name, q, lib in (("EI", ei_q, ei_lib), ("MS/MS", ms_q, ms_lib)):
        keys = {r["key14"] for r in lib}
        missing = [x["id"] for x in q if x["key14"] not in keys]
        assert not missing, missing
        print("%s: %d queries, %d library spectra (%d of query compounds)" % (
            name, len(q), len(lib), sum(1 for r in lib if r["key14"] in {x["key14"] for x in q})))


if __name__ == "__main__":
    main(sys.argv)
