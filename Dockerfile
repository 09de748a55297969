# One image for every slaflow service (web, flower, workers); see docker-compose.yml.
# It runs in production mode as an unprivileged user: the code stays root's (read-only to the services),
# only var/ (campaign reports, logs) is the service user's.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# bubblewrap: command tasks' programs run sandboxed (orchestrator/executables/sandbox.py; README "Programs as tasks").
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY slaflow slaflow
COPY orchestrator orchestrator
COPY workers workers
COPY webui webui
COPY experiments experiments
COPY manage.py ./
RUN pip install --no-cache-dir ".[deploy]" && SLAFLOW_MODE=local python manage.py collectstatic --noinput -v 0 \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin slaflow \
    && chown slaflow:slaflow /app/var
# Production mode refuses DEBUG, default keys, any or no allowed host, insecure cookies and Flower's default
# login at start-up (README "Production mode"): the container needs DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS.
ENV SLAFLOW_MODE=production
USER 10001:10001
EXPOSE 8000 5555
CMD ["gunicorn", "orchestrator.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2"]
