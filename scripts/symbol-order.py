#!/usr/bin/env python3
"""Writes scripts/release-symbol-order.txt: the functions the release binary runs for the
common commands, which scripts/release-link.sh lays out first and side by side.

    scripts/symbol-order.py

Run it when tests/release_install.rs says the order file no longer names the functions a scan
runs, or when the compiler or the dependencies changed (docs/releasing.md), and commit the
result. Needs valgrind (callgrind sees which functions run) and an x86_64 Linux machine.

It profiles the release binary itself (scripts/release-build.sh, stripped as shipped) and
names each function it ran by the link map scripts/release-link.sh wrote next to it: a
build with symbols would be another build, whose symbol names carry other hashes.
"""

import bisect
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ORDER = REPO / "scripts" / "release-symbol-order.txt"
FILE = "examples/collected/cp-1.json.gz"
DIRECTORY = "examples/snapshots/control-plane-1"


def runs(reports: Path) -> list[list[str]]:
    """The commands profiled, the quiet scans first: their functions come first."""
    return [
        ["--version"],
        ["scan", "--snapshot", FILE, "--benchmark", "cis-1.12", "-q"],
        ["scan", "--snapshot", DIRECTORY, "--benchmark", "cis-1.12", "-q"],
        ["scan", "--snapshot", FILE, "-q"],
        ["scan", "--snapshot", DIRECTORY],
        ["scan", "--snapshot", FILE, "-q",
         "--json", str(reports / "r.json"), "--sarif", str(reports / "r.sarif"),
         "--junit", str(reports / "r.xml"), "--html", str(reports / "r.html")],
    ]


class LinkMap:
    """Which function holds an address, from an lld link map (`-Map`)."""

    # `VMA LMA Size Align` (hex, the last decimal), then `file:(section)` or a symbol.
    LINE = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+\s+(\S.*)$")

    def __init__(self, text: str):
        self.sections: list[tuple[int, int, str]] = []  # start, end, `.text…` name
        self.symbols: list[tuple[int, str]] = []
        in_text = False
        for line in text.splitlines():
            match = self.LINE.match(line)
            if not match:
                continue
            address, size, rest = int(match[1], 16), int(match[2], 16), match[3]
            if ":(" in rest:
                section = rest.rsplit(":(", 1)[1].rstrip(")")
                in_text = section.startswith(".text")
                if in_text:
                    self.sections.append((address, address + size, section))
            elif in_text and " " not in rest and not rest.startswith("."):
                self.symbols.append((address, rest))
        self.sections.sort()
        self.symbols.sort()
        self.starts = [start for start, _, _ in self.sections]
        self.symbol_addresses = [address for address, _ in self.symbols]

    def function_at(self, address: int) -> str | None:
        index = bisect.bisect_right(self.starts, address) - 1
        if index < 0:
            return None
        start, end, section = self.sections[index]
        if address >= end:
            return None
        # A compiler's function sections are named after their function; a C library's
        # `.text` holds several, named by the symbols in it.
        for prefix in (".text.unlikely.", ".text.hot.", ".text.startup.", ".text."):
            if section.startswith(prefix):
                return section[len(prefix):]
        at = bisect.bisect_right(self.symbol_addresses, address) - 1
        if at >= 0 and self.symbol_addresses[at] >= start:
            return self.symbols[at][1]
        return None


def functions_run(binary: Path, args: list[str], out: Path) -> list[int]:
    """The addresses of the functions a command ran, in the order callgrind names them."""
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(binary), *args],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # Exit 1 is a failed gate, which the examples are meant to give.
    if result.returncode not in (0, 1):
        sys.exit(f"symbol-order: {' '.join(args)} failed:\n{result.stderr}")
    named = re.compile(r"^c?fn=\(\d+\) 0x([0-9a-f]+)")
    return [int(match[1], 16) for line in out.read_text().splitlines()
            if (match := named.match(line))]


def main() -> None:
    if subprocess.run(["sh", "-c", "command -v valgrind"], stdout=subprocess.DEVNULL).returncode:
        sys.exit("symbol-order: valgrind is needed (apt-get install valgrind)")
    if os.uname().machine != "x86_64":
        sys.exit("symbol-order: the order is profiled on x86_64, where the release links with it")
    built = subprocess.run([REPO / "scripts" / "release-build.sh"], cwd=REPO,
                           stdout=subprocess.PIPE, text=True, check=True)
    binary = REPO / built.stdout.strip()
    link_map = LinkMap((binary.parent / "cisgate.map").read_text())
    # Each function with the first run that ran it. callgrind lists functions in no fixed
    # order, so within a run they go by name: written again for the same code, the file
    # changes at most where a thread happened to wait.
    first_run: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for index, args in enumerate(runs(work)):
            for address in functions_run(binary, args, work / f"{index}.out"):
                function = link_map.function_at(address)
                if function:
                    first_run.setdefault(function, index)
    order = sorted(first_run, key=lambda function: (first_run[function], function))
    rustc = subprocess.run(["rustc", "--version"], stdout=subprocess.PIPE, text=True,
                           check=True).stdout.strip()
    ORDER.write_text(
        f"# Written by scripts/symbol-order.py ({rustc}, x86_64); read by\n"
        "# scripts/release-link.sh. One function per line, by its symbol name.\n"
        + "".join(f"{function}\n" for function in order))
    print(f"symbol-order: {len(order)} functions in {ORDER.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
