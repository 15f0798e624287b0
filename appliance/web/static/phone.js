// The appliance's browser softphone: microphone to the appliance over WebRTC,
// the assistant's voice back, the live transcript over a data channel.
// Plain JavaScript, no build step, nothing loaded from anywhere but the appliance.
"use strict";

(() => {
  const OFFER_URL = "/phone/offer";
  const CONFIG_URL = "/phone/config";
  const GATHER_TIMEOUT_MS = 3000;
  const STATUS_TEXT = {
    idle: "ready",
    connecting: "connecting",
    "in-call": "in call",
    ended: "ended",
  };
  const AGENT_STATE_TEXT = {
    listening: "listening",
    thinking: "thinking",
    speaking: "speaking",
    ended: "call ended",
  };
  const END_REASON_TEXT = {
    agent_hangup: "the assistant ended the call",
    caller_hangup: "you hung up",
    connection_failed: "the connection was lost",
    connect_timeout: "the connection could not be established",
    media_timeout: "no sound arrived from your microphone",
    max_duration: "the maximum call length was reached",
    shutdown: "the appliance is shutting down",
  };

  const byId = (id) => document.getElementById(id);
  const button = byId("call-button");
  const statusText = byId("call-status");
  const agentStateText = byId("agent-state");
  const errorText = byId("call-error");
  const audio = byId("agent-audio");
  const transcript = byId("transcript");
  const transcriptEmpty = byId("transcript-empty");
  const stats = {
    codec: byId("stat-codec"),
    audio: byId("stat-audio"),
    lost: byId("stat-lost"),
    jitter: byId("stat-jitter"),
    firstAudio: byId("stat-first-audio"),
    callId: byId("stat-call-id"),
  };

  let call = null; // {pc, channel, stream, timer, clickedAt, firstAudioAt, ended}

  function setState(state, detail) {
    document.body.dataset.state = state;
    statusText.textContent = detail ? `${STATUS_TEXT[state]} (${detail})` : STATUS_TEXT[state];
    const busy = state === "connecting" || state === "in-call";
    button.textContent = busy ? "Hang up" : state === "ended" ? "Call again" : "Call";
  }

  function showError(message) {
    errorText.textContent = message;
    errorText.hidden = !message;
  }

  // -- transcript -----------------------------------------------------------

  function lineFor(speaker, turn) {
    const selector = `li[data-speaker="${speaker}"][data-turn="${turn}"]`;
    let line = transcript.querySelector(selector);
    if (!line) {
      line = document.createElement("li");
      line.className = `line ${speaker}`;
      line.dataset.speaker = speaker;
      line.dataset.turn = String(turn);
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = speaker === "caller" ? "You" : "Assistant";
      const text = document.createElement("span");
      text.className = "text";
      line.append(who, text);
      placeLine(line, speaker, turn);
      transcriptEmpty.hidden = true;
    }
    return line;
  }

  function placeLine(line, speaker, turn) {
    // Within a turn the caller spoke first; turns appear in order.
    const rank = (node) => Number(node.dataset.turn) * 2 + (node.dataset.speaker === "agent" ? 1 : 0);
    const own = turn * 2 + (speaker === "agent" ? 1 : 0);
    const after = Array.from(transcript.children).find((node) => rank(node) > own);
    transcript.insertBefore(line, after || null);
  }

  function onMessage(message) {
    switch (message.type) {
      case "caller": {
        const line = lineFor("caller", message.turn);
        line.querySelector(".text").textContent = message.text;
        line.dataset.final = message.final ? "true" : "false";
        break;
      }
      case "agent": {
        const line = lineFor("agent", message.turn);
        const text = line.querySelector(".text");
        text.textContent = text.textContent ? `${text.textContent} ${message.text}` : message.text;
        break;
      }
      case "agent_done":
        if (message.interrupted) {
          // Show what the caller actually heard before cutting in.
          const line = lineFor("agent", message.turn);
          line.dataset.interrupted = "true";
          line.querySelector(".text").textContent = message.heard ? `${message.heard} …` : "…";
        }
        break;
      case "state":
        agentStateText.textContent = AGENT_STATE_TEXT[message.state] || message.state;
        break;
      case "error":
        showError(`The assistant had a problem (${message.code}); you are being connected to a person.`);
        break;
      case "ended":
        endCall(END_REASON_TEXT[message.reason] || message.reason);
        break;
      default:
        break;
    }
  }

  // -- statistics -------------------------------------------------------------

  async function updateStats() {
    if (!call || !call.pc) {
      return;
    }
    const report = await call.pc.getStats();
    let inbound = null;
    report.forEach((entry) => {
      if (entry.type === "inbound-rtp" && entry.kind === "audio") {
        inbound = entry;
      }
    });
    if (!inbound) {
      return;
    }
    const codec = inbound.codecId ? report.get(inbound.codecId) : null;
    if (codec) {
      stats.codec.textContent = `${codec.mimeType} ${codec.clockRate} Hz`;
    }
    stats.audio.textContent = `${(inbound.totalSamplesDuration || 0).toFixed(1)} s`;
    stats.lost.textContent = String(inbound.packetsLost || 0);
    stats.jitter.textContent = `${Math.round((inbound.jitter || 0) * 1000)} ms`;
    if (call.firstAudioAt === null && (inbound.totalAudioEnergy || 0) > 1e-5) {
      call.firstAudioAt = performance.now();
      stats.firstAudio.textContent = `${Math.round(call.firstAudioAt - call.clickedAt)} ms`;
    }
  }

  function pollStats() {
    if (!call || call.ended) {
      return;
    }
    updateStats()
      .catch(() => undefined)
      .finally(() => {
        if (call && !call.ended) {
          // Fine-grained until the first audio is heard, then once a second.
          call.timer = setTimeout(pollStats, call.firstAudioAt === null ? 100 : 1000);
        }
      });
  }

  // -- the call ---------------------------------------------------------------

  function waitForCandidates(pc) {
    if (pc.iceGatheringState === "complete") {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        if (pc.iceGatheringState === "complete") {
          pc.removeEventListener("icegatheringstatechange", done);
          resolve();
        }
      };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, GATHER_TIMEOUT_MS);
    });
  }

  async function iceServers() {
    const response = await fetch(CONFIG_URL, { cache: "no-store" });
    if (!response.ok) {
      return [];
    }
    const config = await response.json();
    return (config.ice_servers || []).map((url) => ({ urls: url }));
  }

  async function startCall() {
    showError("");
    transcript.replaceChildren();
    transcriptEmpty.hidden = false;
    Object.values(stats).forEach((node) => {
      node.textContent = "–";
    });
    if (!navigator.mediaDevices || !window.RTCPeerConnection) {
      showError("This browser cannot place calls here: open the page over HTTPS (or on the appliance itself) in a current browser.");
      return;
    }
    call = { pc: null, channel: null, stream: null, timer: null, clickedAt: performance.now(), firstAudioAt: null, ended: false };
    const current = call;
    setState("connecting");
    try {
      current.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        video: false,
      });
      if (current.ended) {
        current.stream.getTracks().forEach((track) => track.stop());
        return;
      }
      const pc = new RTCPeerConnection({ iceServers: await iceServers() });
      current.pc = pc;
      current.stream.getAudioTracks().forEach((track) => pc.addTrack(track, current.stream));
      pc.addEventListener("track", (event) => {
        audio.srcObject = event.streams[0] || new MediaStream([event.track]);
        audio.play().catch(() => undefined);
      });
      pc.addEventListener("connectionstatechange", () => {
        if (current.ended) {
          return;
        }
        if (pc.connectionState === "connected") {
          setState("in-call");
          agentStateText.textContent = "connected";
        } else if (pc.connectionState === "failed") {
          endCall("the connection was lost");
        }
      });
      const channel = pc.createDataChannel("transcript", { ordered: true });
      current.channel = channel;
      channel.addEventListener("message", (event) => {
        try {
          onMessage(JSON.parse(event.data));
        } catch (error) {
          // A message this page does not understand is ignored, never fatal.
        }
      });
      await pc.setLocalDescription(await pc.createOffer());
      await waitForCandidates(pc);
      const response = await fetch(OFFER_URL, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp }),
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        const error = answer.error || {};
        throw new Error(`${error.message || response.statusText} (${error.code || response.status})`);
      }
      if (current.ended) {
        return;
      }
      stats.callId.textContent = answer.call_id;
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      pollStats();
    } catch (error) {
      showError(`The call could not be placed: ${error.message || error}`);
      endCall("failed");
    }
  }

  function endCall(reason) {
    if (!call || call.ended) {
      return;
    }
    const current = call;
    current.ended = true;
    clearTimeout(current.timer);
    if (current.channel && current.channel.readyState === "open") {
      current.channel.send(JSON.stringify({ type: "hangup" }));
    }
    if (current.stream) {
      current.stream.getTracks().forEach((track) => track.stop());
    }
    if (current.pc) {
      const pc = current.pc;
      // Give the hang-up message a moment on the wire, then close.
      setTimeout(() => pc.close(), 200);
    }
    audio.srcObject = null;
    agentStateText.textContent = "not connected";
    setState("ended", reason);
  }

  button.addEventListener("click", () => {
    if (call && !call.ended) {
      endCall("you hung up");
    } else {
      startCall();
    }
  });

  window.addEventListener("pagehide", () => endCall("page closed"));
  setState("idle");
})();
