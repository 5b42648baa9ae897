FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY . .
RUN pip install --no-cache-dir "torch==2.13.0" \
 && pip install --no-cache-dir -e .
ENV HF_HUB_OFFLINE=1 DATA_DIR=/data
EXPOSE 8000
CMD ["loyalty-agent", "serve", "--host", "0.0.0.0"]
