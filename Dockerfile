# Container image of the eql-stream detection service.
#
#   docker build -t eql-stream .
#   docker run --rm --read-only --tmpfs /tmp -p 9464:9464 \
#       -e EQL_STREAM_BOOTSTRAP_SERVERS=kafka:9092 -e EQL_STREAM_INPUT_TOPICS=endpoint.process-events \
#       -v "$PWD/my-rules:/etc/eql-stream/rules:ro" eql-stream
#
# The image holds the shipped rule set in /etc/eql-stream/rules. Mount a folder of
# rule files (.toml, .md, .eql) there to replace it. The process writes nothing
# outside /tmp, so the root filesystem can be read-only.

# NOTE: the tag follows Python 3.11 patch releases; pin a digest for reproducible builds.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
# setuptools reads README.md because pyproject.toml names it as the project's readme.
COPY pyproject.toml README.md ./
COPY stream ./stream

# The wheel, not the source tree, goes into the venv, so only packaged files reach the image.
RUN python -m venv /opt/eql-stream \
    && python -m pip wheel --no-deps --wheel-dir /tmp/wheels . \
    && /opt/eql-stream/bin/pip install /tmp/wheels/eql_stream-*.whl \
    && mkdir -p /opt/rules \
    && cp stream/rules/shipped/*.toml /opt/rules/


FROM ${PYTHON_IMAGE}

# A fixed numeric id, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
ARG UID=10001
RUN groupadd --system --gid "${UID}" eql-stream \
    && useradd --system --uid "${UID}" --gid eql-stream --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin eql-stream

COPY --from=builder /opt/eql-stream /opt/eql-stream
COPY --from=builder /opt/rules /etc/eql-stream/rules

# PYTHONDONTWRITEBYTECODE stops writes of .pyc files, which a read-only root filesystem rejects.
ENV PATH=/opt/eql-stream/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    EQL_STREAM_RULES=/etc/eql-stream/rules \
    EQL_STREAM_METRICS_HOST=0.0.0.0 \
    EQL_STREAM_METRICS_PORT=9464 \
    EQL_STREAM_LOG_FORMAT=json

USER ${UID}:${UID}
WORKDIR /tmp

# /metrics, /healthz and /readyz.
EXPOSE 9464

# urlopen raises on a refused connection and on any status from 400 up, such as /healthz's 503.
# NOTE: the URL assumes the default metrics port; change it here when EQL_STREAM_METRICS_PORT changes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]

ENTRYPOINT ["eql-stream"]
CMD ["run"]
