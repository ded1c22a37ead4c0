"""Agent nodes: typed in, typed out; each with a rules backend and an LLM backend."""
