# syntax=docker/dockerfile:1
# Build: release binary with the Swift runtime linked statically.
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsqlite3-dev libopenblas-dev zlib1g-dev libcurl4-openssl-dev libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product neuromod \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/neuromod" /out/neuromod

# Run: slim Debian with only the runtime libraries and the Fashion-MNIST files.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsqlite3-0 libopenblas0-pthread zlib1g libcurl4 libpq5 dataset-fashion-mnist \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin neuromod \
 && mkdir -p /data && chown neuromod /data
COPY --from=build /out/neuromod /usr/local/bin/neuromod
COPY migrations /usr/share/neuromod/migrations
COPY openapi.yaml /usr/share/neuromod/openapi.yaml
ENV NEUROMOD_HOST=0.0.0.0 \
    NEUROMOD_PORT=8080 \
    NEUROMOD_DATA_DIR=/data \
    OPENBLAS_NUM_THREADS=1
USER neuromod
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["neuromod", "healthcheck"]
# The process itself handles SIGTERM (drain, checkpoint, exit 0).
ENTRYPOINT ["neuromod"]
CMD ["serve"]
