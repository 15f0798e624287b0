"""The engines a call needs, built once from the settings and shared by all calls.

Start-up verifies every model against the manifest, loads Whisper, Piper and
Silero in worker threads while the embedded LLM server starts, and renders the
fixed prompts (greeting, fallbacks) ahead of time, so a caller never waits
for them and a failing engine can still be apologised for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.agent.responder import Responder
from appliance.config import Prompts, Settings
from appliance.errors import ConfigError, LLMError
from appliance.escalation.classifier import EscalationDetector
from appliance.handoff.packager import ContextPackager
from appliance.knowledge.service import Knowledge, open_knowledge
from appliance.llm.client import ChatClient, StreamStats
from appliance.llm.embedded_server import EmbeddedLlamaServer
from appliance.speech.faster_whisper_stt import FasterWhisperSTT
from appliance.speech.piper_tts import PiperTTS
from appliance.speech.stt import Int16Audio, SpeechToText
from appliance.speech.tts import TextToSpeech
from appliance.speech.vad import SileroVad
from appliance.tools.registry import ToolRegistry
from models.registry import ModelRegistry

log = logging.getLogger(__name__)

VAD_MODEL = "silero-vad"
# What the agent says outside the LLM; "system" and "knowledge_context" are LLM input.
PROMPT_NAMES = tuple(
    name for name in Prompts.model_fields if name not in {"system", "knowledge_context"}
)

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class Engines:
    settings: Settings
    registry: ModelRegistry
    vad: SileroVad
    stt: SpeechToText
    tts: TextToSpeech
    llm: ChatClient
    responder: Responder
    server: EmbeddedLlamaServer | None = None
    knowledge: Knowledge | None = None
    tools: ToolRegistry | None = None
    packager: ContextPackager | None = None
    prompts: dict[str, tuple[str, Int16Audio]] = field(default_factory=dict)
    routed: dict[str, Responder] = field(default_factory=dict)
    """Responders for the collections of ``knowledge.routes``, by collection."""
    routed_knowledge: list[Knowledge] = field(default_factory=list)

    def responder_for(self, dialled: str) -> Responder:
        """The responder whose knowledge base answers calls to ``dialled``."""
        collection = self.settings.knowledge.collection_for(dialled)
        return self.routed.get(collection, self.responder)

    def prompt(self, name: str) -> tuple[str, Int16Audio, int]:
        text, audio = self.prompts[name]
        return text, audio, self.tts.sample_rate

    def model_ids(self) -> list[str]:
        return model_ids(self.settings)

    @classmethod
    async def start(cls, settings: Settings, *, progress: Progress = _quiet) -> Engines:
        registry = ModelRegistry(data_dir=settings.data_dir, bundle_dir=settings.models.bundle_dir)
        progress("verifying models")
        await asyncio.to_thread(registry.verify_all, model_ids(settings))
        server = None
        if settings.uses_embedded_llm:
            embedded = settings.embedded_llm
            server = EmbeddedLlamaServer(
                model_path=registry.path(embedded.model),
                alias=settings.llm.model,
                host=embedded.host,
                port=embedded.port,
                n_ctx=embedded.n_ctx,
                threads=embedded.threads,
                startup_timeout_s=embedded.startup_timeout_s,
                log_path=settings.data_dir / "logs" / "llm-server.log",
            )
            progress("starting the embedded LLM server")
            server_start = asyncio.create_task(server.start())
        try:
            progress("loading speech models")
            vad, stt, tts = await asyncio.gather(
                asyncio.to_thread(SileroVad, registry.path(VAD_MODEL)),
                asyncio.to_thread(_load_stt, settings, registry),
                asyncio.to_thread(_load_tts, settings, registry),
            )
            if server is not None:
                await server_start
            llm = ChatClient(
                base_url=server.base_url if server else str(settings.llm.base_url),
                model=settings.llm.model,
                api_key=_read_secret(settings.llm.api_key_file),
                connect_timeout_s=settings.llm.connect_timeout_s,
                first_token_timeout_s=settings.llm.first_token_timeout_s,
                total_timeout_s=settings.llm.total_timeout_s,
                retries=settings.llm.retries,
            )
        except BaseException:
            if server is not None:
                server_start.cancel()
                await server.stop()
            raise
        knowledge = None
        others: list[Knowledge] = []
        if settings.knowledge.use_in_calls:
            progress("opening the knowledge base")
            try:
                knowledge = await asyncio.to_thread(_open_knowledge, settings)
                others = await asyncio.to_thread(_open_routed, knowledge, settings)
            except BaseException:
                if knowledge is not None:
                    knowledge.close()
                await llm.aclose()
                if server is not None:
                    await server.stop()
                raise
        lookup = knowledge.lookup(settings) if knowledge else None
        tools = ToolRegistry(settings.tools) if settings.tools.connectors else None
        detector = EscalationDetector(settings.escalation)
        routed = {
            other.collection: Responder(llm, settings, other.lookup(settings), tools, detector)
            for other in others
        }
        engines = cls(
            settings,
            registry,
            vad,
            stt,
            tts,
            llm,
            Responder(llm, settings, lookup, tools, detector),
            server,
            knowledge,
            tools,
            ContextPackager(
                settings.handoff,
                allowed_hosts=settings.tools.allowed_hosts,
                sentiment=lambda text: -detector.classify(text).scores.get("emotional", 0.0),
            ),
            routed=routed,
            routed_knowledge=others,
        )
        progress("rendering prompts")
        await engines._render_prompts()
        progress("warming up the LLM")
        await engines._warm_up_llm()
        return engines

    async def _render_prompts(self) -> None:
        for name in PROMPT_NAMES:
            text = self.settings.agent.prompt(name)
            speech = await self.tts.synthesize(text)
            self.prompts[name] = (text, speech.audio)

    async def _warm_up_llm(self) -> None:
        """One tiny request: loads weights into cache and the system prompt into the KV cache.

        A failure is only logged: the appliance must start (and apologise on
        calls) even while an external LLM endpoint is down.
        """
        stats = StreamStats()
        try:
            async for _ in self.responder.reply([], "Hello.", stats):
                break
        except LLMError as exc:
            log.warning("LLM warm-up failed", extra={"code": str(exc.code)})

    async def close(self) -> None:
        if self.tools is not None:
            await self.tools.aclose()
        for other in self.routed_knowledge:
            other.close()
        if self.knowledge is not None:
            self.knowledge.close()
        await self.llm.aclose()
        if self.server is not None:
            await self.server.stop()
        self.stt.close()
        self.tts.close()


def model_ids(settings: Settings) -> list[str]:
    ids = [VAD_MODEL, settings.stt_model_id(), settings.tts.voice]
    if settings.uses_embedded_llm:
        ids.append(settings.embedded_llm.model)
    if settings.knowledge.use_in_calls and not settings.knowledge.embedding_url:
        ids.append(settings.knowledge.embedding_model)
    return ids


def _load_stt(settings: Settings, registry: ModelRegistry) -> FasterWhisperSTT:
    model_id = settings.stt_model_id()
    stt = FasterWhisperSTT(
        registry.path(model_id),
        device=settings.stt.device,
        compute_type=settings.stt.compute_type,
        cpu_threads=settings.stt.cpu_threads,
        beam_size=settings.stt.beam_size,
        short_window=settings.stt.short_window,
        name=model_id,
    )
    stt.warmup()
    return stt


def _open_knowledge(settings: Settings) -> Knowledge:
    """The knowledge base; while its collection is empty the agent answers without it."""
    knowledge = open_knowledge(settings)
    knowledge.store.embedder.load()  # the first caller question must not wait for it
    _prepare(knowledge, settings)
    return knowledge


def _open_routed(knowledge: Knowledge, settings: Settings) -> list[Knowledge]:
    """The other collections ``knowledge.routes`` names, on the same client."""
    names = sorted(set(settings.knowledge.routes.values()) - {knowledge.collection})
    others = [knowledge.other_collection(settings, name) for name in names]
    for other in others:
        _prepare(other, settings)
    return others


def _prepare(knowledge: Knowledge, settings: Settings) -> None:
    chunks = knowledge.store.chunk_count()
    if chunks:
        knowledge.retriever.prepare()  # keyword index and the collection's vocabulary
    routes = sorted(n for n, c in settings.knowledge.routes.items() if c == knowledge.collection)
    log.info(
        "knowledge base open",
        extra={
            "collection": knowledge.collection,
            "chunks": chunks,
            "routes": routes,
            "answer_mode": settings.knowledge.answer_mode,
            "qdrant": "server" if settings.knowledge.qdrant_url else "local",
        },
    )


def _load_tts(settings: Settings, registry: ModelRegistry) -> PiperTTS:
    tts = PiperTTS(
        registry.path(settings.tts.voice),
        length_scale=settings.tts.length_scale,
        threads=settings.tts.threads,
        name=settings.tts.voice,
    )
    if not tts.language.lower().startswith(settings.agent.language):
        log.warning(
            "voice language differs from the agent language",
            extra={"voice": settings.tts.voice, "voice_language": tts.language},
        )
    tts.warmup()
    return tts


def _read_secret(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise ConfigError(f"cannot read llm.api_key_file {path}: {exc.strerror}") from exc
