# The tool's image: Python 3.11 with the locked dependencies; the database is the `db` service
# (or production's MITx Online database, given as DATABASE_URL).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.lock /app/
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY . /app
RUN useradd --create-home app && chown -R app /app
USER app
EXPOSE 8000
CMD ["./manage.py", "runserver", "0.0.0.0:8000"]
