# Multi-stage build: compile in the Rust image, run on slim Debian.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY migrations ./migrations
COPY src ./src
COPY web ./web
RUN cargo build --release --locked && strip target/release/wharf

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/wharf wharf \
    && mkdir -p /var/lib/wharf && chown wharf /var/lib/wharf
COPY --from=build /src/target/release/wharf /usr/local/bin/wharf
USER wharf
ENV WHARF_BIND=0.0.0.0:8624 \
    WHARF_DATA_DIR=/var/lib/wharf
VOLUME /var/lib/wharf
EXPOSE 8624
HEALTHCHECK --interval=10s --timeout=6s CMD curl -fsS http://127.0.0.1:8624/health/ready || exit 1
ENTRYPOINT ["wharf"]
CMD ["serve"]
