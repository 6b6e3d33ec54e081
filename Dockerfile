# syntax=docker/dockerfile:1
# Convoca for a server: `docker compose up -d` with compose.yaml beside it (docs/deploy.md).
# The locks were made on Python 3.11, the oldest Convoca supports: the image runs the
# interpreter they were made and tested for.

FROM python:3.11.13-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/convoca
# The exact tree the tests ran on, every file checked against its hash; the locks hold no
# compiler's work, so no build tools are needed here.
COPY requirements/run.lock /tmp/run.lock
RUN /opt/convoca/bin/pip install --require-hashes -r /tmp/run.lock
# Convoca itself on top, with nothing more fetched: its dependencies are the lock's.
COPY pyproject.toml README.md /src/
COPY bot /src/bot
COPY channels /src/channels
COPY documents /src/documents
COPY domain /src/domain
COPY handlers /src/handlers
COPY locales /src/locales
COPY scheduler /src/scheduler
COPY services /src/services
COPY storage /src/storage
COPY web /src/web
RUN /opt/convoca/bin/pip install --no-deps --no-build-isolation /src

FROM python:3.11.13-slim-bookworm
# A fixed uid, so a volume's files keep their owner across rebuilds.
RUN groupadd --system --gid 10001 convoca \
 && useradd --system --uid 10001 --gid convoca --home-dir /srv/convoca --shell /usr/sbin/nologin convoca \
 && install -d -o convoca -g convoca -m 0750 /srv/convoca /srv/convoca/data /srv/convoca/log
COPY --from=build /opt/convoca /opt/convoca
ENV PATH=/opt/convoca/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HTTP_LISTEN=0.0.0.0:8080 \
    LOG_FILE=/srv/convoca/log/convoca.log
WORKDIR /srv/convoca
USER convoca
EXPOSE 8080
ENTRYPOINT ["convoca"]
CMD ["run"]
