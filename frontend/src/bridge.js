// The MCP Apps host bridge, page side: JSON-RPC 2.0 over postMessage with the host (window.parent),
// as the MCP Apps extension (io.modelcontextprotocol/ui, protocol 2026-01-26) specifies.
// @modelcontextprotocol/ext-apps does the same with 660 KB of dependencies (MCP client, zod);
// the page needs four messages, so they are written out here.

export const APPS_PROTOCOL_VERSION = "2026-01-26";
const REQUEST_TIMEOUT_MS = 60000;

export function createHostBridge(handlers) {
  const host = window.parent;
  const pending = new Map();
  let nextId = 1;

  const post = (message) => host.postMessage({ jsonrpc: "2.0", ...message }, "*");

  function request(method, params) {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${method}: the host did not answer`));
      }, REQUEST_TIMEOUT_MS);
      pending.set(id, { resolve, reject, timer });
      post({ id, method, params });
    });
  }

  const notify = (method, params) => post({ method, params });

  function answer(message) {
    const call = pending.get(message.id);
    if (!call) return;
    pending.delete(message.id);
    clearTimeout(call.timer);
    if (message.error) call.reject(new Error(message.error.message || "host error"));
    else call.resolve(message.result);
  }

  function handle(message) {
    const params = message.params || {};
    switch (message.method) {
      case "ui/notifications/tool-input":
        handlers.onToolInput?.(params.arguments || {});
        break;
      case "ui/notifications/tool-result":
        handlers.onToolResult?.(params);
        break;
      case "ui/notifications/host-context-changed":
        handlers.onHostContext?.(params);
        break;
      case "ui/resource-teardown":
      case "ping":
        post({ id: message.id, result: {} });
        break;
      default:
        if (message.id !== undefined) {
          post({ id: message.id, error: { code: -32601, message: `unknown method ${message.method}` } });
        }
    }
  }

  window.addEventListener("message", (event) => {
    if (event.source !== host) return;
    const message = event.data;
    if (!message || message.jsonrpc !== "2.0") return;
    if (message.method) handle(message);
    else if (message.id !== undefined) answer(message);
  });

  return {
    async connect(appInfo) {
      const result = await request("ui/initialize", {
        appInfo,
        appCapabilities: {},
        protocolVersion: APPS_PROTOCOL_VERSION,
      });
      notify("ui/notifications/initialized", {});
      return result || {};
    },
    callTool: (name, args) => request("tools/call", { name, arguments: args }),
    sizeChanged: (width, height) => notify("ui/notifications/size-changed", { width, height }),
  };
}
