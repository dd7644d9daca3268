# syntax=docker/dockerfile:1
# One image for the web, worker and beat services in docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=crm.settings

WORKDIR /app

# Dependencies before the code, so a code change reuses this layer. requirements.txt is the
# production list as is; dev.py's embedded servers are in requirements-local.txt.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# whitenoise serves the collected files. Settings need a SECRET_KEY to import: this dummy one
# exists only for this RUN and is not stored in the image. DEBUG=0 builds the hashed manifest
# that the production static storage reads.
RUN SECRET_KEY=build-time-dummy-key-only-for-collectstatic DEBUG=0 \
    python manage.py collectstatic --noinput

# An unprivileged user: nothing needs root at runtime (and Celery warns when run as root). Its
# home is writable for gunicorn's control socket ($HOME/.gunicorn/gunicorn.ctl).
RUN useradd --system --uid 10001 --create-home --home-dir /home/crm crm
USER crm

EXPOSE 8000
CMD ["gunicorn", "crm.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
