# wheelhouse's image: a slim Debian with only libcurl and zlib (the Swift runtime
# is linked statically). Non-root, data in /data, health check, SIGTERM graceful.
#
# Two ways to build it, one file (the legacy builder and BuildKit both work):
#  - from source, with Docker Hub:   docker build -t wheelhouse:latest .
#    (compiles in the official Swift image, runs on debian:bookworm-slim);
#  - offline, from a binary built on this host:   make image
#    (the build context is a folder holding only the release binary `wheelhouse`,
#    and BUILDER_IMAGE/BASE_IMAGE name a local Debian image; see scripts/build-image.sh).
ARG BUILDER_IMAGE=swift:6.3-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BUILDER_IMAGE} AS build
WORKDIR /src
COPY . ./
# A context holding a prebuilt binary is installed as is; a source tree is compiled.
RUN if [ -f wheelhouse ] && [ ! -f Package.swift ]; then \
      install -m 0755 wheelhouse /usr/local/bin/wheelhouse; \
    else \
      apt-get update \
      && apt-get install -y --no-install-recommends libcurl4-openssl-dev zlib1g-dev \
      && rm -rf /var/lib/apt/lists/* \
      && swift build -c release --static-swift-stdlib --product wheelhouse \
      && install -m 0755 "$(swift build -c release --show-bin-path)/wheelhouse" /usr/local/bin/wheelhouse; \
    fi

FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4 zlib1g ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
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
