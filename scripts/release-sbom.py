#!/usr/bin/env python3
"""Writes the CycloneDX 1.5 SBOM (JSON) of one cisgate release binary.

    release-sbom.py TARGET BINARY VERSION > cisgate-vVERSION-TARGET.cdx.json

The components are the crates compiled into the binary for TARGET: `cargo metadata
--filter-platform TARGET` resolved from the cisgate package through normal and build
dependencies (dev-dependencies are not in the binary), each with its purl, licence and the
SHA-256 Cargo.lock records for it. The binary itself is the metadata component, with its own
SHA-256. Deterministic: the timestamp is SOURCE_DATE_EPOCH, the serial number is derived from
the binary's hash. Called by scripts/release-layout.sh.
"""

import hashlib
import json
import os
import subprocess
import sys
import tomllib
import uuid
from datetime import datetime, timezone


def purl(package):
    return f"pkg:cargo/{package['name']}@{package['version']}"


def licenses(package):
    expression = package.get("license")
    return [{"expression": expression}] if expression else []


def lock_checksums(manifest_dir):
    with open(os.path.join(manifest_dir, "Cargo.lock"), "rb") as lock:
        packages = tomllib.load(lock).get("package", [])
    return {(p["name"], p["version"]): p["checksum"] for p in packages if "checksum" in p}


def in_binary(dep):
    """A dependency edge that ends up in the binary: normal or build, not dev-only."""
    return any(kind["kind"] in (None, "build") for kind in dep["dep_kinds"])


def reachable(metadata, root_id):
    nodes = {node["id"]: node for node in metadata["resolve"]["nodes"]}
    edges, seen, todo = {}, set(), [root_id]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        edges[current] = sorted({d["pkg"] for d in nodes[current]["deps"] if in_binary(d)})
        todo.extend(edges[current])
    return edges


def main():
    target, binary, version = sys.argv[1:4]
    manifest_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked",
             "--filter-platform", target],
            cwd=manifest_dir, check=True, capture_output=True, text=True,
        ).stdout
    )
    packages = {p["id"]: p for p in metadata["packages"]}
    root_id = next(p["id"] for p in metadata["packages"] if p["name"] == "cisgate")
    edges = reachable(metadata, root_id)
    checksums = lock_checksums(manifest_dir)
    with open(binary, "rb") as program:
        binary_sha256 = hashlib.sha256(program.read()).hexdigest()
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))

    components = []
    for package_id in sorted(edges, key=lambda i: (packages[i]["name"], packages[i]["version"])):
        if package_id == root_id:
            continue
        package = packages[package_id]
        component = {
            "type": "library",
            "bom-ref": purl(package),
            "name": package["name"],
            "version": package["version"],
            "purl": purl(package),
            "licenses": licenses(package),
        }
        checksum = checksums.get((package["name"], package["version"]))
        if checksum:
            component["hashes"] = [{"alg": "SHA-256", "content": checksum}]
        components.append(component)

    root = packages[root_id]
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": uuid.uuid5(uuid.NAMESPACE_URL, f"cisgate:{binary_sha256}").urn,
        "version": 1,
        "metadata": {
            "timestamp": datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "cisgate release-sbom.py"}]},
            "component": {
                "type": "application",
                "bom-ref": purl(root),
                "name": "cisgate",
                "version": version,
                "purl": f"{purl(root)}?target={target}",
                "licenses": licenses(root),
                "hashes": [{"alg": "SHA-256", "content": binary_sha256}],
            },
            "properties": [{"name": "cisgate:target", "value": target}],
        },
        "components": components,
        "dependencies": [
            {"ref": purl(packages[i]), "dependsOn": [purl(packages[d]) for d in deps]}
            for i, deps in sorted(edges.items(), key=lambda e: purl(packages[e[0]]))
        ],
    }
    json.dump(bom, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
