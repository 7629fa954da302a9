# wheelhouse's image: the binary (Swift runtime linked statically) with Debian 12's
# libcurl and zlib and nothing else. Non-root, data in /data, health check,
# SIGTERM graceful.
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
# Marks this build's intermediate images, which scripts/build-image.sh prunes after a week.
LABEL wheelhouse.stage=build
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

# Debian's libcurl and zlib, then only the files the binary loads are kept:
# the image holds no shell, package manager or locale data (about 45 MB).
FROM ${BASE_IMAGE} AS runtime-files
LABEL wheelhouse.stage=runtime-files
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4 zlib1g ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/wheelhouse /rootfs/usr/local/bin/wheelhouse
# ldd lists every library the binary loads (libcurl loads none later); the dynamic
# loader, its cache, CA certificates, OpenSSL's default config and the user follow.
RUN set -e; cd /rootfs \
 && for lib in $(ldd usr/local/bin/wheelhouse | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do \
      cp --parents -L "$lib" .; \
    done \
 && cp --parents -L /etc/ld.so.cache /etc/nsswitch.conf /etc/ssl/certs/ca-certificates.crt \
      /usr/lib/ssl/openssl.cnf . \
 && printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nwheelhouse:x:10001:10001::/data:/usr/sbin/nologin\n' > etc/passwd \
 && printf 'root:x:0:\nwheelhouse:x:10001:\n' > etc/group \
 && mkdir -m 1777 tmp && mkdir data && chown 10001:10001 data

FROM scratch
LABEL wheelhouse.stage=image
COPY --from=runtime-files /rootfs /
USER wheelhouse
ENV PATH=/usr/local/bin \
    WHEELHOUSE_HOST=0.0.0.0 \
    WHEELHOUSE_PORT=3141 \
    WHEELHOUSE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 3141
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
  CMD ["wheelhouse", "healthcheck", "--url", "http://127.0.0.1:3141"]
ENTRYPOINT ["wheelhouse"]
CMD ["serve"]
