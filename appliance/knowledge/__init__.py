"""Knowledge base: ingest an organisation's documents, retrieve passages for a question.

``embeddings`` turns texts into vectors (embedded USE multilingual v3, or an
OpenAI-compatible endpoint), ``ingest`` reads, chunks and stores documents in
Qdrant, ``retrieve`` finds the passages for a caller's question and, with the
calibrated relevance model of ``relevance``, decides whether anything relevant
was found at all.
"""

from appliance.knowledge.errors import KnowledgeCode, KnowledgeError

__all__ = ["KnowledgeCode", "KnowledgeError"]
