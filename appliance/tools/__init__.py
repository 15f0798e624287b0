"""Tools the agent can call during a call: declared in config, executed over HTTP."""
