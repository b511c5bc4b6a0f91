"""Is a perturbed copy as hard to match as a real second spectrum? On the library alone (no query file):
the task's weighted cosine on the peaks the template writes finds the compound of

- a real spectrum, searched against the library without it (compounds with two or more spectra), and
- a perturbed copy of a spectrum, searched against the whole library (compounds with one spectrum, the
  ones training gives only such copies as positives), for each augmentation profile of `llm4ms train`.

A profile whose copies are found far more often than real spectra teaches invariance to changes smaller
than those between instruments.

    python -m benchmarks.augment_realism --task ei [--queries 1000] [--out F.json]
"""

from collections import defaultdict

import numpy as np

from llm4ms.index.search import compound_keys
from llm4ms.textualize.peaks import select_peaks
from llm4ms.textualize.settings import DEFAULTS
from llm4ms.training.augment import PROFILES, perturb

from .report import write_json
from .text_information import binned, recall, task_parser, task_tables


def realism(library, template: str, mz_power: float, intensity_power: float, n: int, seed: int = 0,
            profiles: dict = PROFILES) -> dict:
    params = DEFAULTS[template]
    mz, intensities = library.column("mz").to_pylist(), library.column("intensities").to_pylist()
    keys = compound_keys(library)
    members = defaultdict(list)
    for row, key in enumerate(keys):
        members[key].append(row)
    rng = np.random.default_rng(seed)
    several = np.array([r for rows in members.values() if len(rows) > 1 for r in rows])
    single = np.array([rows[0] for rows in members.values() if len(rows) == 1])
    several = rng.choice(several, min(n, len(several)), replace=False)
    single = rng.choice(single, min(n, len(single)), replace=False)

    def text_peaks(m, i):
        return select_peaks(m, i, params["top_n"], params["threshold"], params["decimals"])

    reference = [text_peaks(m, i) for m, i in zip(mz, intensities)]

    def found(query_peaks, rows, leave_out: bool):
        vectors = binned(reference + query_peaks, params["decimals"], mz_power, intensity_power)
        scores = (vectors[len(reference):] @ vectors[:len(reference)].T).toarray()
        if leave_out:
            scores[np.arange(len(rows)), rows] = -np.inf
        return recall(scores, [keys[r] for r in rows], library)

    result = {"queries": {"real": len(several), "copies": len(single)},
              "real spectrum, library without it": found([reference[r] for r in several], several, True)}
    for name, profile in profiles.items():
        copies = [text_peaks(*perturb(rng, mz[r], intensities[r], profile, params["decimals"] > 0)) for r in single]
        result[f"copy, profile {name}"] = {**found(copies, single, False), "profile": profile.record()}
    return result


def main(argv=None):
    parser = task_parser("python -m benchmarks.augment_realism")
    parser.add_argument("--queries", type=int, default=1000, help="spectra drawn for each row (seed 0)")
    args = parser.parse_args(argv)
    task, template, _, library = task_tables(args)
    write_json({"task": task.name, "template": template,
                **realism(library, template, task.mz_power, task.intensity_power, args.queries)}, args.out)


if __name__ == "__main__":
    main()
