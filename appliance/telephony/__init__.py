"""Where calls come from: SIP, WebRTC, or a simulated caller, behind one interface."""
