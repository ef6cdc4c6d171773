"""The MCP server: ``build_server(settings)``, its lifespan, transports and auth."""
