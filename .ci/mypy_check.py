"""Type-check the project with mypy (django-stubs, djangorestframework-stubs): `crm/` strict
with no error allowed, the apps against a committed baseline that can only shrink.

    .venv/bin/python .ci/mypy_check.py            # what CI runs (.ci/run)
    .venv/bin/python .ci/mypy_check.py --update   # after fixing errors: rewrite the baseline

The flags are in pyproject.toml (`[tool.mypy]`, and the strict override for `crm.*`). An error
is known by file, code and message, not by line (lines move when code is added above it), so
the baseline (`.ci/mypy-baseline.txt`, one line an error) survives edits elsewhere in a file;
a second error of the same kind in the same file is a new one. It fails on any error the
baseline does not hold and on any error under `crm/`; fixed errors are reported with the
command that shrinks the baseline. `--update` never lets the baseline grow.

mypy's cache is `.mypy_cache/` in the checkout (not shared between checkouts): a cold run
takes about a minute on this project's 2-core machines, a warm one a few seconds.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / ".ci" / "mypy-baseline.txt"
TARGETS = ["crm", "profiles", "segments", "campaigns", "journeys", "social"]
STRICT = "crm/"  # held to zero: never in the baseline
UPDATE = ".venv/bin/python .ci/mypy_check.py --update"

ERROR = re.compile(r"^(?P<path>[^:\s]+\.pyi?):(?P<line>\d+): error: (?P<message>.*)$")
LINE_NUMBERS = re.compile(r"\bline \d+\b")


def mypy_errors() -> tuple[list[tuple[str, str]], str]:
    """[(key, the error as mypy printed it)], and mypy's whole output."""
    started = time.monotonic()
    run = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "mypy", "--cache-dir", str(ROOT / ".mypy_cache"), *TARGETS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    output = run.stdout + run.stderr
    if run.returncode not in (0, 1):  # 2: mypy itself failed (bad config, crash)
        sys.exit(f"mypy could not run (exit {run.returncode}):\n{output}")
    errors = []
    for text in output.splitlines():
        match = ERROR.match(text)
        if match:
            message = LINE_NUMBERS.sub("line N", match["message"])
            errors.append((f"{match['path']}: {message}", text))
    print(f"mypy: {len(errors)} errors in {time.monotonic() - started:.0f} s")
    return errors, output


def baseline_read() -> Counter[str]:
    if not BASELINE.exists():
        return Counter()
    return Counter(line for line in BASELINE.read_text().splitlines() if line.strip())


def baseline_write(keys: Counter[str]) -> None:
    BASELINE.write_text("".join(f"{key}\n" for key in sorted(keys.elements())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="shrink the baseline to today's")
    options = parser.parse_args()

    errors, _output = mypy_errors()
    current = Counter(key for key, _text in errors)
    baseline = baseline_read()
    new = current - baseline
    fixed = baseline - current
    strict = [text for _key, text in errors if text.startswith(STRICT)]

    failed = False
    if strict:
        failed = True
        print(f"\n{len(strict)} errors under {STRICT}, which is strict and has no baseline:")
        print("\n".join(strict))
    outside = Counter({key: n for key, n in new.items() if not key.startswith(STRICT)})
    if outside:
        failed = True
        print(f"\n{sum(outside.values())} new errors (not in {BASELINE.relative_to(ROOT)}):")
        remaining = Counter(outside)
        for key, text in errors:
            if remaining[key] > 0 and not key.startswith(STRICT):
                # Which of several same-keyed errors is the new one is unknowable: show them all.
                print(text)
        print("Fix them; the baseline only shrinks.")
    if options.update:
        if strict or (outside and BASELINE.exists()):
            print("\nThe baseline was not rewritten: it may only shrink.")
            return 1
        baseline_write(Counter({k: n for k, n in current.items() if not k.startswith(STRICT)}))
        print(f"{BASELINE.relative_to(ROOT)}: {sum(current.values())} errors (was "
              f"{sum(baseline.values())}).")  # fmt: skip
        return 0
    if fixed:
        print(f"\n{sum(fixed.values())} errors of the baseline are fixed: run `{UPDATE}` and "
              f"commit {BASELINE.relative_to(ROOT)} so they cannot come back.")  # fmt: skip
    if not failed:
        print(f"OK: no error under {STRICT}, none beyond the baseline "
              f"({sum(baseline.values())} known).")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
