# syntax=docker/dockerfile:1
# The `pipeline` binary in a small Debian image, run as a non-root user. scripts/build-image builds it:
#   docker run --rm millrace run pipelines/quickstart.yaml
# The builder and the runtime share Debian bookworm, so the binary's glibc and OpenSSL match.

FROM rust:1-bookworm AS builder
# librdkafka (built from source by rdkafka-sys) links the system OpenSSL and zlib, found by pkg-config.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
# `pipeline init` compiles the example pipelines in.
COPY pipelines pipelines
# The caches keep the registry and the build between image builds; the binary is copied out of
# the cached target dir, which the next stage cannot see.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin pipeline \
 && cp target/release/pipeline /usr/local/bin/pipeline

FROM debian:bookworm-slim
# Only what the binary loads (OpenSSL, zlib) and the CA roots for HTTPS object stores.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin millrace
COPY --from=builder /usr/local/bin/pipeline /usr/local/bin/pipeline
WORKDIR /home/millrace
# The bundled examples and their sample data, so relative paths in the specs resolve; outputs
# (out/ by default) land in the user's writable home.
COPY --chown=millrace:millrace pipelines pipelines
USER millrace
ENTRYPOINT ["pipeline"]
CMD ["--help"]
