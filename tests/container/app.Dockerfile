# Stands in for a devstack app container (LMS, Studio): Debian's Python with pip,
# and a virtualenv as edx-platform's images have. pip reads /etc/pip.conf, which
# the test mounts from `wheelhouse pip-conf`, as devstack mounts devpi's.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /venv
ENV PATH=/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1
CMD ["sleep", "infinity"]
