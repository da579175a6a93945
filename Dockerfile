# syntax=docker/dockerfile:1
# cisgate container image: a static (musl) cisgate on Alpine.
#   docker build -t cisgate .
#   docker run --rm -v "$PWD:/work" -w /work cisgate scan --snapshot nodes   # snapshot scan, non-root
# Live node scans run the image as root with the host mounted read-only at /host
# (examples/kubernetes/). Alpine rather than distroless: kube-bench-style shell audits need
# /bin/sh, ps, stat and friends, and GitLab CI jobs need a shell.

ARG RUST_VERSION=1.89
ARG ALPINE_VERSION=3.22

FROM rust:${RUST_VERSION}-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
# Dependencies first, so a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY tests/support/fake_component.rs tests/support/fake_component.rs
RUN mkdir -p src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin cisgate \
    && rm -rf src
COPY src src
COPY cfg cfg
COPY templates templates
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin cisgate \
    && ./target/release/cisgate --version

FROM alpine:${ALPINE_VERSION} AS kubectl
ARG KUBECTL_VERSION=v1.33.1
ARG TARGETARCH=amd64
RUN apk add --no-cache curl \
    && curl -fsSLo /kubectl "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl" \
    && curl -fsSLo /kubectl.sha256 "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl.sha256" \
    && echo "$(cat /kubectl.sha256)  /kubectl" | sha256sum -c - \
    && chmod 0755 /kubectl

FROM alpine:${ALPINE_VERSION}
# procps/coreutils/findutils: the GNU/procps behaviour kube-bench's shell audits expect
# (`ps -ef`, `stat -c`, `find -printf`); kubectl: API objects for the `policies` target.
RUN apk add --no-cache procps-ng coreutils findutils \
    && adduser -D -H -u 65532 -s /sbin/nologin cisgate
COPY --from=build /src/target/release/cisgate /usr/local/bin/cisgate
COPY --from=kubectl /kubectl /usr/local/bin/kubectl
COPY scripts/gitlab-ci.sh /usr/local/bin/cisgate-gitlab-ci
COPY scripts/github-action.sh /usr/local/bin/cisgate-github-action
# Snapshot scans need no privileges. Live scans override this with runAsUser: 0.
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["cisgate"]
CMD ["--help"]
