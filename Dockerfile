# One image for every slaflow service (web, flower, workers); see docker-compose.yml.
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
RUN pip install --no-cache-dir ".[deploy]" && python manage.py collectstatic --noinput -v 0
EXPOSE 8000 5555
CMD ["gunicorn", "orchestrator.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2"]
