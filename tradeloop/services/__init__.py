"""The service rooms behind the tools: strategy lifecycle, slots, the live desk, queries."""
