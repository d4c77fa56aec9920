# One image for every billflow process (API, worker, one-shot set-up, codec server).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini worker.py ./
COPY billflow billflow
COPY workflows workflows
COPY activities activities
COPY starter starter
COPY stripe_emulator stripe_emulator
COPY migrations migrations
RUN pip install --no-cache-dir .
ENV BILLFLOW_ENVIRONMENT=production
EXPOSE 8000
CMD ["billflow", "worker"]
