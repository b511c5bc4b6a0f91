"""One line per Galaxy test and a closing 'N passed, N failed' line, from the JSON reports that
galaxy-tool-test (-j) and planemo test (--test_output_json) write. A suite whose report is missing
counts as one failure, so a crashed runner cannot pass for a clean run.

Usage: python summarize_tests.py RESULTS_DIR SUITE...   (SUITE.json expected in RESULTS_DIR)
"""

import json
import sys
from datetime import datetime
from pathlib import Path


def seconds(data: dict) -> float:
    # planemo's workflow reports have start and end times instead of galaxy-tool-test's time_seconds
    if "time_seconds" in data:
        return data["time_seconds"]
    try:
        start, end = (datetime.fromisoformat(data[key]) for key in ("start_datetime", "end_datetime"))
    except (KeyError, TypeError, ValueError):
        return 0.0
    return (end - start).total_seconds()


def main(results: Path, suites: list[str]) -> int:
    passed = failed = 0
    for suite in suites:
        report = results / f"{suite}.json"
        if not report.exists():
            print(f"FAILED  {suite}: no report ({report.name}); see {suite}.log")
            failed += 1
            continue
        tests = json.loads(report.read_text()).get("tests", [])
        if not tests:
            print(f"FAILED  {suite}: the report lists no test")
            failed += 1
        for test in tests:
            data = test.get("data", {})
            ok = data.get("status") == "success"
            passed += ok
            failed += not ok
            print(f"{'passed' if ok else 'FAILED':7} {test['id']}  {seconds(data):.0f} s")
            if not ok:
                problems = (data.get("output_problems") or []) + [data.get("execution_problem") or data.get("status")]
                for problem in problems:
                    print("        " + " ".join(str(problem).split())[:400])
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2:]))
