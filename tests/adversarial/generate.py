#!/usr/bin/env python3
"""Writes the adversarial corpus of tests/adversarial_corpus.rs (issue #12).

    python3 tests/adversarial/generate.py [--out DIR]     # default: beside this script

Deterministic: the same script writes the same bytes (gzip without a timestamp, sorted
manifest). The test checks that the committed corpus is what this script writes.

Layout of DIR:
  cases.json              one entry per case: kind, inputs, extra flags, what is expected
  cases/<name>/...        the case's committed inputs:
                            kind node/fleet/root: files laid over a copy of the cis-1.12
                              good-worker fixture (symlinks kept as symlinks)
                            kind snapshot: the snapshot file given to --snapshot
                            kind jq: policies.yaml, laid over a copy of cfg/ (cis-1.12)
                            kind baseline: baseline.yaml, given to --baseline
  jq-snapshot.json        the snapshot (with API objects) the jq cases scan

What git cannot hold (or should not: folder symlink loops, which cargo would walk) is
listed under "runtime" and made by the test in its temp dir:
FIFOs, a /dev/zero character device (mknod as root, else a symlink to /dev/zero, which
must be refused) and sparse files of gigabytes. Nothing is ever made under /dev.
"""

import argparse
import gzip
import io
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1 << 20

# Text that must never appear in any output: planted outside the node by the test.
CANARY = "CISGATE-CANARY-9f3b2c-outside-the-node"
# Every hostile character class of a name at once: ESC sequences (clear screen, set title,
# OSC 8 hyperlink), CR, BS, BEL, NUL, DEL, C1 CSI, noncharacters, bidi overrides.
HOSTILE = (
    "w\x1b[2J\x1b]0;pwned\x07\rX\x08\x07\x00\x7f\x9b31m"
    "\ufffe\uffff\u202eevil\u202c\u2066iso\u2069"
    "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\end"
)

# The minimal metadata of the good-worker fixture (its modes, owners and processes).
WORKER_METADATA = """\
node:
  name: {name}
  roles: [worker]
  kubernetes_version: "1.32.2"
files:
  - path: "/**"
    mode: "0644"
    owner: root:root
  - path: "/etc/kubernetes/*.conf"
    mode: "0600"
  - path: "/var/lib/kubelet/config.yaml"
    mode: "0600"
processes:
  - argv:
      - "/usr/local/bin/kube-proxy"
      - "--config=/var/lib/kube-proxy/config.conf"
      - "--hostname-override=worker-1"
{extra_processes}"""


def yaml_quoted(text):
    """A YAML double-quoted scalar holding `text` exactly (JSON escapes are YAML's)."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20 or 0x7F <= code <= 0x9F or code in (0xFFFE, 0xFFFF) or 0x2000 <= code <= 0x206F:
            out.append("\\u%04x" % code if code > 0xFF else "\\x%02x" % code)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def worker_metadata(name="worker-1", kubelet_argv=None):
    extra = ""
    if kubelet_argv:
        extra = "  - argv:\n" + "".join("      - %s\n" % yaml_quoted(a) for a in kubelet_argv)
    return WORKER_METADATA.format(name=name, extra_processes=extra)


def deep_yaml(depth):
    return "a: " + "[" * depth + "]" * depth + "\n"


def billion_laughs():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 12):
        prev, cur = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append("%s: &%s [%s]" % (cur, cur, ",".join("*" + prev for _ in range(9))))
    return "\n".join(lines) + "\n"


def gzip_bytes(data_chunks):
    """gzip of the chunks, no name, mtime 0: the same bytes on every run."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as out:
        for chunk in data_chunks:
            out.write(chunk)
    return buffer.getvalue()


class Corpus:
    def __init__(self, out):
        self.out = out
        self.cases = []

    def case(self, name, kind, expect_codes, messages=(), args=(), files=None, symlinks=None,
             runtime=(), note="", must_not=()):
        """One case: `files` (path → bytes or str) and `symlinks` (path → target) under
        cases/<name>/; `messages` must each appear in the run's output (stderr, stdout or a
        report) — the file's name and, where one was hit, the limit."""
        base = os.path.join(self.out, "cases", name)
        for path, content in sorted((files or {}).items()):
            full = os.path.join(base, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as handle:
                handle.write(content.encode() if isinstance(content, str) else content)
        for path, target in sorted((symlinks or {}).items()):
            full = os.path.join(base, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            os.symlink(target, full)
        if not files and not symlinks:
            os.makedirs(base, exist_ok=True)
            # git keeps no empty folder
            with open(os.path.join(base, ".keep"), "w") as handle:
                handle.write("")
        self.cases.append({
            "name": name,
            "kind": kind,
            "expect_codes": list(expect_codes),
            "messages": list(messages),
            "args": list(args),
            "runtime": [list(step) for step in runtime],
            "note": note,
            "must_not": list(must_not),
        })

    def write_manifest(self):
        with open(os.path.join(self.out, "cases.json"), "w") as handle:
            json.dump({"canary": CANARY, "cases": sorted(self.cases, key=lambda c: c["name"])},
                      handle, indent=1, ensure_ascii=True, sort_keys=True)
            handle.write("\n")


KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"


def node_cases(c):
    meta = "cisgate-node.yaml"
    # -- symlinked metadata and node files: resolved inside the node, never on the host
    # A metadata link that leads nowhere inside the node is an absent metadata file: the
    # tree is read without one.
    c.case("metadata-symlink-to-etc-shadow", "node", [0, 1], [],
           symlinks={"node/" + meta: "/etc/shadow"},
           note="resolved inside the snapshot: its own etc/shadow (absent), never the host's")
    c.case("metadata-symlink-escapes-with-dotdot", "node", [0, 1], [],
           symlinks={"node/" + meta: "../../../../../../../../canary.txt"})
    c.case("metadata-symlink-to-a-node-file", "node", [2], [meta],
           symlinks={"node/" + meta: "/etc/passwd"},
           note="resolved inside the snapshot: the node's own etc/passwd, not valid metadata")
    c.case("metadata-symlink-loop", "node", [2], [meta],
           symlinks={"node/" + meta: "loop-a", "node/loop-a": "loop-b", "node/loop-b": "loop-a"})
    # Leading nowhere inside the node: an absent kubelet config.
    c.case("kubelet-config-symlink-to-etc-shadow", "node", [0, 1], [],
           symlinks={"node/var/lib/kubelet/config.yaml": "/etc/shadow"})
    c.case("kubelet-config-symlink-escapes-with-dotdot", "node", [0, 1], [],
           symlinks={"node/var/lib/kubelet/config.yaml": "../../../../../../../../canary.txt"})
    # The kubelet config is what a snapshot directory's kubelet process is derived from:
    # past a bound, or unparsable, the node is an error (exit 2 alone, 3 in a fleet).
    c.case("kubelet-config-symlink-loop", "node", [2], [KUBELET_CONFIG],
           symlinks={"node/var/lib/kubelet/config.yaml": "config.yaml"})
    # (owners come from the metadata: a missing etc/passwd is not needed)
    c.case("passwd-symlink-escapes-with-dotdot", "node", [0, 1], [],
           symlinks={"node/etc/passwd": "../../../../../canary.txt"})
    # (made at run time: cargo walks the package and would follow committed folder loops)
    c.case("directory-symlink-loops", "node", [0, 1], [],
           runtime=[["symlink", "etc/kubernetes/self", "."],
                    ["symlink", "etc/kubernetes/up", "../../../.."],
                    ["symlink", "var/lib/kubelet/pki", "/var/lib/kubelet/pki"]])
    # -- hostile names
    c.case("hostile-node-name", "node", [0, 1], ["w\\e[2J"],
           files={"node/" + meta: worker_metadata(yaml_quoted(HOSTILE))})
    c.case("very-long-node-name", "node", [0, 1, 2], [],
           files={"node/" + meta: worker_metadata("n" * (64 * 1024))})
    c.case("hostile-file-name-in-argv", "node", [0, 1], ["pwned"],
           args=["--include-test-output"],
           files={"node/" + meta: worker_metadata(
               kubelet_argv=["/usr/bin/kubelet",
                             "--config=/var/lib/kubelet/" + HOSTILE + ".yaml",
                             "--kubeconfig=/etc/kubernetes/" + "k" * 5000 + ".conf"])})
    # -- oversized, truncated, malformed at depth (node files a check reads)
    c.case("oversized-kubelet-config", "node", [2],
           [KUBELET_CONFIG, "larger than the 16 KiB limit (--max-file-size)"],
           args=["--max-file-size", "16K"],
           files={"node/var/lib/kubelet/config.yaml":
                  "kind: KubeletConfiguration\n" + "# padding\n" * 4000})
    c.case("truncated-kubelet-config", "node", [2], [KUBELET_CONFIG],
           files={"node/var/lib/kubelet/config.yaml":
                  "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                  "authentication:\n  anonymous:\n    enabled: \"fal"})
    c.case("deeply-nested-kubelet-config", "node", [2], [KUBELET_CONFIG],
           files={"node/var/lib/kubelet/config.yaml": deep_yaml(50_000)})
    c.case("billion-laughs-kubelet-config", "node", [2], [KUBELET_CONFIG, "budget"],
           files={"node/var/lib/kubelet/config.yaml": billion_laughs()})
    c.case("kubelet-config-with-a-long-secret-line", "node", [2], [KUBELET_CONFIG],
           must_not=["SECRETTAIL" * 5],
           files={"node/var/lib/kubelet/config.yaml":
                  "kind: KubeletConfiguration\nstaticPodURLHeader: " + "SECRETTAIL" * 5000
                  + "\n  : [\n"})
    c.case("binary-kubelet-config", "node", [2], [KUBELET_CONFIG],
           files={"node/var/lib/kubelet/config.yaml": bytes(range(256)) * 64})
    # -- the metadata file itself (the node's description: the node is an error)
    c.case("oversized-metadata", "node", [2], [meta, "16 KiB limit (--max-file-size)"],
           args=["--max-file-size", "16K"],
           files={"node/" + meta: worker_metadata() + "# padding\n" * 4000})
    c.case("truncated-metadata", "node", [2], [meta],
           files={"node/" + meta: worker_metadata()[:120]})
    c.case("deeply-nested-metadata", "node", [2], [meta],
           files={"node/" + meta: deep_yaml(50_000)})
    c.case("billion-laughs-metadata", "node", [2], [meta],
           files={"node/" + meta: billion_laughs()})
    c.case("metadata-with-secret-like-long-line", "node", [2], [meta],
           must_not=["SECRETTAIL" * 5],
           files={"node/" + meta: "node: " + "SECRETTAIL" * 5000 + "\n  : :\n"})


def runtime_cases(c):
    c.case("fifo-kubelet-config", "node", [2], [KUBELET_CONFIG, "a FIFO, not a regular file"],
           runtime=[["fifo", "var/lib/kubelet/config.yaml"]])
    c.case("fifo-passwd", "node", [2], ["/etc/passwd", "a FIFO"],
           runtime=[["fifo", "etc/passwd"]])
    c.case("fifo-metadata", "node", [2], ["cisgate-node.yaml"],
           runtime=[["fifo", "cisgate-node.yaml"]])
    c.case("dev-zero-passwd", "node", [2], ["/etc/passwd"],
           runtime=[["dev_zero", "etc/passwd"]])
    c.case("dev-zero-kubelet-config", "node", [2], [KUBELET_CONFIG],
           runtime=[["dev_zero", "var/lib/kubelet/config.yaml"]])
    c.case("sparse-kubelet-config", "node", [2],
           [KUBELET_CONFIG, "larger than the 16 MiB limit (--max-file-size)"],
           runtime=[["sparse", "var/lib/kubelet/config.yaml", str(3 << 30)]])
    c.case("sparse-passwd", "node", [2],
           ["/etc/passwd", "larger than the 16 MiB limit (--max-file-size)"],
           runtime=[["sparse", "etc/passwd", str(3 << 30)]])
    c.case("sparse-metadata", "node", [2], ["cisgate-node.yaml", "16 MiB limit"],
           runtime=[["sparse", "cisgate-node.yaml", str(3 << 30)]])
    c.case("live-root-fifos-and-sparse", "root", [0, 1],
           [KUBELET_CONFIG, "a FIFO"],
           runtime=[["fifo", "var/lib/kubelet/config.yaml"], ["fifo", "etc/default/kubelet"],
                    ["fifo", "etc/hostname"],
                    ["sparse", "etc/kubernetes/kubelet.conf", str(3 << 30)]])
    c.case("live-root-dev-zero-passwd", "root", [2], ["/etc/passwd"],
           runtime=[["dev_zero", "etc/passwd"]])


def fleet_cases(c):
    """One broken node beside two healthy ones: exit 3, the others reported."""
    c.case("fleet-fifo-passwd", "fleet", [3], ["/etc/passwd"],
           runtime=[["fifo", "etc/passwd"]])
    c.case("fleet-metadata-symlink-to-a-node-file", "fleet", [3], ["cisgate-node.yaml"],
           symlinks={"node/cisgate-node.yaml": "/etc/passwd"})
    c.case("fleet-fifo-kubelet-config", "fleet", [3], [KUBELET_CONFIG, "a FIFO"],
           runtime=[["fifo", "var/lib/kubelet/config.yaml"]])
    c.case("fleet-sparse-metadata", "fleet", [3], ["cisgate-node.yaml", "16 MiB limit"],
           runtime=[["sparse", "cisgate-node.yaml", str(3 << 30)]])
    c.case("fleet-deeply-nested-metadata", "fleet", [3], ["cisgate-node.yaml"],
           files={"node/cisgate-node.yaml": deep_yaml(50_000)})
    c.case("fleet-gzip-bomb", "fleet", [3],
           ["bomb.json.gz", "256 MiB limit (--max-snapshot-size)"],
           runtime=[["copy", "cases/snapshot-gzip-bomb/bomb.json.gz", "bomb.json.gz"]])


def gzip_bomb():
    """~300 KiB that inflate to 300 MiB of valid JSON: only the limit stops it."""
    chunk = b" " * MIB
    return gzip_bytes([b"{"] + [chunk] * 300 + [b"}"])


def snapshot_cases(c):
    c.case("snapshot-gzip-bomb", "snapshot", [2],
           ["bomb.json.gz", "inflates to more than the 256 MiB limit (--max-snapshot-size)"],
           files={"bomb.json.gz": gzip_bomb()})
    valid = json.dumps(minimal_snapshot("trunc-1"), indent=1).encode()
    c.case("snapshot-truncated-gzip", "snapshot", [2], ["truncated.json.gz"],
           files={"truncated.json.gz": gzip_bytes([valid])[:-40]})
    c.case("snapshot-truncated-json", "snapshot", [2], ["truncated.json:"],
           files={"truncated.json": valid[: len(valid) // 2]})
    c.case("snapshot-deeply-nested-json", "snapshot", [2], ["deep.json"],
           files={"deep.json": b'{"snapshot_version": 1, "node": ' + b"[" * 100_000})
    c.case("snapshot-not-utf8", "snapshot", [2], ["latin1.json"],
           files={"latin1.json": valid.replace(b"trunc-1", b"tr\xe9\xff\xfe")})
    c.case("snapshot-oversized", "snapshot", [2],
           ["big.json", "64 KiB limit (--max-snapshot-size)"],
           args=["--max-snapshot-size", "64K"],
           files={"big.json": valid[:-2] + b', "padding": "' + b"x" * (100 * 1024) + b'"}'})
    with gzip.open(os.path.join(HERE, "..", "..", "examples", "collected", "cp-1.json.gz")) as f:
        hostile = json.load(f)
    hostile["node"]["name"] = HOSTILE
    hostile["processes"].append({"pid": 99999, "comm": "kube-proxy\x1b[2J", "argv": [
        "kube-proxy", "--config=/var/lib/kube-proxy/\x1b]0;pwned\x07.conf\u202e"]})
    c.case("snapshot-hostile-names", "snapshot", [0, 1], ["w\\e[2J"],
           files={"hostile.json": json.dumps(hostile, indent=1).encode()})
    c.case("snapshot-huge-numbers", "snapshot", [0, 1, 2], [],
           files={"numbers.json": valid.replace(b'"snapshot_version": 1',
                                                 b'"snapshot_version": 1' + b"0" * 5000)})


def minimal_snapshot(name, api=None):
    return {
        "snapshot_version": 1,
        "node": {"name": name, "roles": ["worker"], "kubernetes_version": "1.32.2"},
        "source": "tests/adversarial/generate.py",
        "processes": [],
        "files": {},
        "api": api or {"reachable": False, "kinds": {}},
    }


# The benchmark's policies file with one check whose jq is `filter`.
POLICIES = """\
---
controls:
version: "cis-1.12"
id: 5
text: "Kubernetes Policies"
type: "policies"
groups:
  - id: 5.1
    text: "RBAC and service accounts"
    checks:
      - id: 5.1.1
        text: "a hostile jq filter (adversarial corpus)"
        audit:
          probe: api_query
          kinds: [clusterrolebindings]
          jq: |
            {filter}
        tests:
          test_items:
            - flag: "never printed"
              set: false
        remediation: none
        scored: true
"""


# 2^40 leaves in a few hundred bytes: every part shared.
SHARED = "reduce range(40) as $i (0; [., .])"


def jq_cases(c):
    refused = {
        "halt": "halt",
        "halt-error": '"bye\\n" | halt_error',
        "env": "env | tostring",
        "dollar-env": "$ENV.PATH",
        "input": "input",
        "inputs": "[inputs]",
        "loc": "$__loc__ | tostring",
        "debug": ". as $x | debug | empty",
        "stderr": "stderr | empty",
        "input-filename": "input_filename",
        "halt-in-def": "def ok: halt; .clusterrolebindings | ok",
        "env-in-interpolation": '"\\(env)"',
    }
    for name, filter_ in sorted(refused.items()):
        c.case("jq-refused-" + name, "jq", [2], ["policies.yaml", "may not use"],
               files={"policies.yaml": POLICIES.format(filter=filter_)})
    # Bounded while running: that check is ERROR (ERROR gates like FAIL: exit 1), the run
    # ends, memory stays bounded. `message` is what the ERROR says ("and was stopped" where
    # time, memory or output may come first, depending on the machine).
    bounded = {
        "endless-recursion": ("def f: f; f", "ran longer than"),
        "repeat": ("repeat(.)", "and was stopped"),
        "range-1e9-collected": ("[range(1e9)] | length", "and was stopped"),
        "deep-recursion": ("def f: [f]; f", "recursed too deeply"),
        "string-repetition": ('"x" * 10000000000 | length', "more than 64 MiB"),
        "repetition-after-a-number": ('10000000000 * "abcdefgh" | length', "more than 64 MiB"),
        "repetition-of-a-float": ('"x" * 1e10 | length', "jq"),
        "doubling-string": ('"x" | until(length > 1e12; . + .) | length', "jq"),
        "shared-tree-serialised": ("reduce range(60) as $i (0; [., .]) | tojson | length",
                                   "jq"),
        "shared-tree-printed": ("reduce range(60) as $i (0; [., .])", "jq"),
        "shared-tree-interpolated": ('reduce range(60) as $i (0; [., .]) | "\\(.)" | length',
                                     "jq"),
        # jaq does not pad arrays with nulls: a far index is refused, not allocated
        "huge-index-set": ("[] | .[10000000000] = 1 | length", "out of bounds"),
        "huge-setpath": ("[] | setpath([10000000000]; 1) | length", "out of bounds"),
        "limit-repeat-tostring": ('[limit(1e9; repeat("xxxxxxxx"))] | tostring | length', "jq"),
        "range-collected-large-elements": ('[range(1e9) | "\\(.)" * 1000] | length',
                                           "and was stopped"),
        "reduce-doubling": ('[range(64)] | reduce .[] as $x ("x"; . + .) | length',
                            "MiB of memory"),
        # one native step over shared parts: checked before the step (issue 12, item 9)
        "shared-tree-sorted": (SHARED + " | sort | length", "compared or sorted"),
        "shared-tree-sorted-by": (SHARED + " | [., .] | sort_by(.) | length",
                                  "compared or sorted"),
        "shared-tree-grouped": (SHARED + " | [., .] | group_by(.) | length",
                                "compared or sorted"),
        "shared-tree-unique": (SHARED + " | [., .] | unique | length", "compared or sorted"),
        "shared-tree-unique-by": (SHARED + " | [., .] | unique_by(.) | length",
                                  "compared or sorted"),
        "shared-tree-min": (SHARED + " | [., .] | min | length", "compared or sorted"),
        "shared-tree-max": (SHARED + " | [., .] | max | length", "compared or sorted"),
        "shared-tree-less-than": (SHARED + " | . < .", "compared or sorted"),
        "shared-trees-equal": (SHARED + " as $a | " + SHARED + " | . == $a",
                               "compared or sorted"),
        "shared-tree-merged": ("{a: " + SHARED + "} | . * .", "compared or sorted"),
        "shared-tree-contains": (SHARED + " | contains(.)", "searched values too large"),
        "shared-tree-inside": (SHARED + " | inside(.)", "searched values too large"),
        "shared-tree-indices": (SHARED + " | [., .] | indices(.[0])",
                                "searched values too large"),
        "long-arrays-contain": ("[range(20000)] | contains([range(20000)])",
                                "searched values too large"),
        "nested-iteration-collected": (
            'reduce range(40) as $i ("x"; [., .]) | [' + ".[]" * 40 + ' | . * 1000] | length',
            "and was stopped"),
    }
    for name, (filter_, message) in sorted(bounded.items()):
        c.case("jq-bounded-" + name, "jq", [1], ["5.1.1", message],
               files={"policies.yaml": POLICIES.format(filter=filter_)})


def baseline_cases(c):
    c.case("baseline-deeply-nested", "baseline", [2], ["baseline.yaml"],
           files={"baseline.yaml": "version: 1\nexceptions: " + "[" * 50_000 + "\n"})
    c.case("baseline-billion-laughs", "baseline", [2], ["baseline.yaml"],
           files={"baseline.yaml": billion_laughs() + "version: 1\nexceptions: []\n"})
    c.case("baseline-compact-date", "baseline", [2], ["baseline.yaml", "YYYY-MM-DD"],
           files={"baseline.yaml": "version: 1\nexceptions:\n  - check: 4.1.1\n"
                                   "    reason: r\n    expires: 20260101\n"})
    c.case("baseline-truncated", "baseline", [2], ["baseline.yaml"],
           files={"baseline.yaml": "version: 1\nexceptions:\n  - check: \"4.1"})
    entries = "".join('  - {check: "4.%d.*", nodes: ["n-%05d"], reason: r}\n' % (i % 3, i)
                      for i in range(20_000))
    c.case("baseline-20000-globs", "baseline", [0, 1], [],
           files={"baseline.yaml": "version: 1\nexceptions:\n" + entries})
    c.case("baseline-hostile-reason", "baseline", [0, 1], [],
           files={"baseline.yaml": "version: 1\nexceptions:\n  - check: \"4.*\"\n"
                                   "    reason: %s\n" % yaml_quoted(HOSTILE)})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=HERE)
    out = parser.parse_args().out
    for stale in ("cases", "cases.json", "jq-snapshot.json"):
        path = os.path.join(out, stale)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)
    os.makedirs(out, exist_ok=True)
    corpus = Corpus(out)
    node_cases(corpus)
    runtime_cases(corpus)
    fleet_cases(corpus)
    snapshot_cases(corpus)
    jq_cases(corpus)
    baseline_cases(corpus)
    corpus.write_manifest()
    crb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": {"name": "cluster-admin"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                       "name": "cluster-admin"},
           "subjects": [{"kind": "Group", "name": "system:masters"}]}
    snapshot = minimal_snapshot("cp-jq", {
        "reachable": True, "kinds": {"clusterrolebindings": {"items": [crb]}}})
    snapshot["node"]["roles"] = ["control-plane"]
    with open(os.path.join(out, "jq-snapshot.json"), "w") as handle:
        json.dump(snapshot, handle, indent=1, sort_keys=True)
        handle.write("\n")


if __name__ == "__main__":
    main()
