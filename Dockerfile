# syntax=docker/dockerfile:1
# Build stage: install the pinned dependencies into a virtual environment.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

# Runtime stage: the venv and the application, run as an unprivileged user.
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLASK_APP=taskapi \
    TASKAPI_ENV=production \
    SERVER_HOST=0.0.0.0 \
    SERVER_PORT=8000
RUN groupadd --system taskapi && useradd --system --gid taskapi --home-dir /app taskapi
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY taskapi ./taskapi
COPY migrations ./migrations
COPY wsgi.py ./
RUN mkdir -p /app/instance && chown taskapi:taskapi /app/instance
USER taskapi
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"
# Migrations run as a separate one-shot job (`flask db upgrade`), never at start-up.
CMD ["flask", "serve"]
