"""A stand-in for a hosted embeddings API (OpenAI-compatible `POST /v1/embeddings`), for benchmarks.load's
`--embeddings endpoint` run: what a deployment with `EMBEDDING_PROVIDER=openai` spends on its own cores
once embedding happens off the machine.

It returns feature-hashing vectors (vectorstore.embeddings.HashingEmbedder), not a model's: their meaning
is not what is measured, only that the deployment's processes no longer run the model. Its own CPU is
metered apart by the benchmark, since a hosted endpoint would not use this machine's cores.

    python -m benchmarks.embedding_endpoint --port 8790 [--dim 384]
"""

from __future__ import annotations

import argparse
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from vectorstore.embeddings import HashingEmbedder


class EmbeddingRequest(BaseModel):
    model: str
    input: list[str] | str


def endpoint_app(dim: int) -> FastAPI:
    embedder = HashingEmbedder(dim=dim)
    app = FastAPI()

    @app.post("/v1/embeddings")
    def embeddings(request: EmbeddingRequest) -> dict[str, Any]:
        texts = [request.input] if isinstance(request.input, str) else request.input
        vectors = embedder.embed(texts)
        return {
            "object": "list",
            "model": request.model,
            "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }

    return app


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dim", type=int, default=384)
    args = p.parse_args()
    uvicorn.run(endpoint_app(args.dim), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
