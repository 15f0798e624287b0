"""``appliance kb``: load, list, search and delete knowledge-base documents."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.config import COLLECTION_NAME, Settings
from appliance.progress import ProgressBar

if TYPE_CHECKING:
    from appliance.knowledge.service import Knowledge


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kb = sub.add_parser(
        "kb",
        help="knowledge base: ingest, list, search, delete documents",
        description="Documents are chunked, embedded on this machine and stored in the "
        "collection knowledge.collection (Qdrant local mode under data_dir/vectors, or the "
        "Qdrant server knowledge.qdrant_url). Ingesting a file whose name is already a "
        "document replaces that document once the new version is stored.",
    )
    kb.add_argument(
        "--collection",
        type=_collection_name,
        metavar="NAME",
        help="work on this knowledge base instead of knowledge.collection (e.g. another "
        "department's)",
    )
    actions = kb.add_subparsers(dest="kb_command", required=True, metavar="ACTION")
    ingest = actions.add_parser("ingest", help="add or replace documents (files or folders)")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    actions.add_parser("list", help="list the documents with their chunk counts")
    search = actions.add_parser("search", help="show the passages a question retrieves")
    search.add_argument("question")
    actions.add_parser(
        "reindex", help="rebuild every document from the kept originals (e.g. after a model change)"
    )
    delete = actions.add_parser("delete", help="remove a document and all its chunks")
    delete.add_argument("doc_id", metavar="DOC")


def _collection_name(text: str) -> str:
    if not re.fullmatch(COLLECTION_NAME, text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a collection name (1-64 letters, digits, '-' or '_')"
        )
    return text


def run(args: argparse.Namespace, settings: Settings) -> int:
    # llama-index and qdrant load only here, so `appliance --help` stays instant.
    from appliance.knowledge.service import open_knowledge

    if args.collection:
        knowledge_settings = settings.knowledge.model_copy(update={"collection": args.collection})
        settings = settings.model_copy(update={"knowledge": knowledge_settings})
    knowledge = open_knowledge(settings)
    try:
        if args.kb_command == "ingest":
            return _ingest(knowledge, args.paths)
        if args.kb_command == "reindex":
            return _ingest(knowledge, knowledge.sources.files(), keep=False)
        if args.kb_command == "list":
            for doc in knowledge.store.documents():
                print(f"{doc.doc_id:32} {doc.chunks:4} chunks  {doc.language}  {doc.title}")
            return 0
        if args.kb_command == "search":
            knowledge.retriever.prepare()  # decide as the running appliance does
            result = knowledge.retriever.retrieve(args.question, k=settings.knowledge.top_k)
            verdict = "relevant" if result.relevant else "nothing relevant"
            judged = result.relevance
            detail = (
                f", topic coverage {judged.coverage:.2f}, absent {judged.absence:.2f},"
                f" p {judged.probability:.2f}"
                if judged
                else ""
            )
            print(f"{verdict} (top score {result.top_score:.3f}{detail})")
            for passage in result.passages:
                print(f"{passage.score:6.3f}  {passage.doc_id} / {passage.section}: {passage.text}")
            return 0
        removed = knowledge.store.delete(args.doc_id)
        knowledge.sources.remove(args.doc_id)
        print(f"deleted {args.doc_id} ({removed} chunks)")
        return 0
    finally:
        knowledge.close()


def _ingest(knowledge: Knowledge, paths: list[Path], *, keep: bool = True) -> int:
    from appliance.knowledge.errors import KnowledgeError
    from appliance.knowledge.ingest import expand_paths

    files = expand_paths(paths)
    failed = 0
    bar = ProgressBar(len(files), sys.stderr)
    for index, path in enumerate(files, start=1):
        prefix = f"[{index}/{len(files)}]"
        bar.working_on(path.name)
        try:
            result = knowledge.store.ingest_file(path)
        except KnowledgeError as exc:
            failed += 1
            bar.advance(f"{prefix} FAILED {exc}")
            continue
        if keep:
            knowledge.sources.keep(path, result.doc_id)
        replaced = f", replaced {result.replaced}" if result.replaced else ""
        if result.instruction_like:
            bar.say(
                f"{prefix} warning: {result.instruction_like} passage(s) of {path.name} read as "
                "instructions to an AI; they are kept but never spoken or given to the LLM"
            )
        bar.advance(f"{prefix} {path.name}: {result.chunks} chunks{replaced}")
    bar.close()
    print(f"ingested {len(files) - failed} of {len(files)} files")
    return 2 if failed else 0
