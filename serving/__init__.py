"""Inference backends behind one interface: vLLM, and an embedded CPU backend."""
