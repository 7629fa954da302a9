# Multi-stage: build with the official Swift image, run on slim Debian with only
# libcurl and zlib (the Swift runtime is linked statically). Non-root, data in /data.
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4-openssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product wheelhouse \
 && install -m 0755 "$(swift build -c release --show-bin-path)/wheelhouse" /usr/local/bin/wheelhouse

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4 zlib1g ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin wheelhouse \
 && mkdir -p /data && chown wheelhouse:wheelhouse /data
COPY --from=build /usr/local/bin/wheelhouse /usr/local/bin/wheelhouse
USER wheelhouse
ENV WHEELHOUSE_HOST=0.0.0.0 \
    WHEELHOUSE_PORT=3141 \
    WHEELHOUSE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 3141
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
  CMD ["wheelhouse", "healthcheck", "--url", "http://127.0.0.1:3141"]
ENTRYPOINT ["wheelhouse"]
CMD ["serve"]
