# cisgate container image: the static cisgate binary (the benchmarks are embedded in it) on an
# empty base, and nothing else — no shell, no package manager, no libraries.
#
# Build it with scripts/release-image.sh, which builds the static binaries first
# (scripts/release-build.sh) and puts them where this file expects them:
#   scripts/release-image.sh cisgate:dev linux/amd64=target/x86_64-unknown-linux-gnu/dist/cisgate
# It builds offline (the base is `scratch`), with podman/buildah or docker, and for several
# platforms at once (there is no RUN step, so no emulation is needed).
#
#   docker run --rm -v "$PWD:/work" -w /work IMAGE scan --snapshot nodes   # snapshot scan, non-root
# Live node scans run the image as root with the host mounted read-only at /host
# (examples/kubernetes/).

FROM scratch

ARG TARGETOS=linux
ARG TARGETARCH=amd64
# Set by scripts/release-image.sh (from Cargo.toml, git and the release workflow).
ARG VERSION=unknown
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=https://github.com/cisgate/cisgate

# Pre-defined annotation keys of the OCI image spec (annotations.md), as labels.
LABEL org.opencontainers.image.title="cisgate" \
      org.opencontainers.image.description="Checks Kubernetes nodes against the CIS Kubernetes Benchmark, built for CI pipelines" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.url="${SOURCE}" \
      org.opencontainers.image.documentation="${SOURCE}/blob/v${VERSION}/README.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="scratch"

COPY target/image/${TARGETOS}/${TARGETARCH}/cisgate /usr/local/bin/cisgate

# Snapshot scans need no privileges. Live scans override this with runAsUser: 0.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/cisgate"]
CMD ["--help"]
