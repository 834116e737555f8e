# Coffer container image: a static (musl) binary on distroless/static, running as non-root.
#
#   docker build -t coffer .
#   docker run -d --name coffer -p 4566:4566 -p 9464:9464 \
#       -v coffer-data:/var/lib/coffer -v "$PWD/tls:/etc/coffer/tls:ro" coffer
#
# The image's configuration (/etc/coffer/coffer.toml, packaging/coffer.container.toml) listens
# on 0.0.0.0:4566 with TLS from /etc/coffer/tls/tls.crt and tls.key (mount them), keeps state in
# the volume /var/lib/coffer, and serves metrics and the health probes on :9464 (plain HTTP).
# Create the data directory and the root credentials once with
#   docker run --rm -v coffer-data:/var/lib/coffer coffer operator init --data-dir /var/lib/coffer

# ---- build -----------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools cmake clang \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
ARG COFFER_GIT_COMMIT=unknown
ENV COFFER_GIT_COMMIT=${COFFER_GIT_COMMIT}
RUN cargo build --release --locked -p coffer --bin coffer --target x86_64-unknown-linux-musl \
 && cp target/x86_64-unknown-linux-musl/release/coffer /coffer \
 && mkdir -p /rootfs/var/lib/coffer /rootfs/etc/coffer/tls \
 && cp packaging/coffer.container.toml /rootfs/etc/coffer/coffer.toml

# ---- runtime ---------------------------------------------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /coffer /usr/local/bin/coffer
COPY --from=build --chown=65532:65532 /rootfs/var/lib/coffer /var/lib/coffer
COPY --from=build /rootfs/etc/coffer /etc/coffer
USER 65532:65532
VOLUME ["/var/lib/coffer"]
EXPOSE 4566 9464
ENV COFFER_CONFIG=/etc/coffer/coffer.toml
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/coffer", "health", "--endpoint", "http://127.0.0.1:9464"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/coffer"]
CMD ["serve"]
