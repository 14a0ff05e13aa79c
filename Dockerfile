# One image for the web process (Daphne), the Celery worker, Celery beat and runconsumers.
#   docker build -t streamdesk .
#   docker run ... streamdesk                                   # web on :8000
#   docker run ... streamdesk celery -A console worker -l INFO
#   docker run ... streamdesk celery -A console beat -l INFO
#   docker run ... streamdesk python manage.py runconsumers
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMDESK_VAR_DIR=/app/var

WORKDIR /app

RUN groupadd --system --gid 10001 streamdesk \
 && useradd --system --uid 10001 --gid streamdesk --home-dir /app --no-create-home streamdesk

# Dependencies first: this layer is reused until requirements.txt changes.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY manage.py pyproject.toml ./
COPY console ./console
COPY streams ./streams
COPY templates ./templates
COPY static ./static

# collectstatic imports the settings, which want a SECRET_KEY; this throwaway one
# only lives for this command (the real one comes from the environment at run time).
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0 \
 && rm -f var/secret_key \
 && chown -R streamdesk:streamdesk var

USER streamdesk
EXPOSE 8000

CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "console.asgi:application"]
