// How the page calls tools: through the host bridge (MCP App) or by POSTing to /mcp (the
// /dashboard page of `tradeloop serve --http`), and where its live updates come from.

const MCP_VERSION = "2026-07-28";
const TOKEN_KEY = "tradeloop-token";

export class AuthRequired extends Error {}

/** The tool's structured result, or an Error carrying the text the tool answered with. */
export function unwrap(result) {
  const text = (result?.content || [])
    .filter((block) => block.type === "text")
    .map((block) => block.text)
    .join("\n");
  if (result?.isError) throw new Error(text || "the tool failed");
  if (result?.structuredContent) return result.structuredContent;
  try {
    return JSON.parse(text);
  } catch {
    return { text };
  }
}

export function appCaller(bridge) {
  return async (name, args) => unwrap(await bridge.callTool(name, args));
}

/** The ``#s=<strategy_id>`` and ``r=<run_id or comparison_id>`` the page was opened with; a
 * ``token=`` in the fragment (which never reaches the server or its logs) is kept for this tab
 * and removed from the address bar. */
export function readFragment() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", window.location.pathname + window.location.search + (rest ? `#${rest}` : ""));
  }
  return { strategy: params.get("s"), run: params.get("r") };
}

export function saveToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

let requestId = 0;

export function httpCaller(base = "") {
  return async (name, args) => {
    const id = ++requestId;
    const response = await fetch(`${base}/mcp`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
        "MCP-Protocol-Version": MCP_VERSION,
        "Mcp-Method": "tools/call",
        "Mcp-Name": name,
        ...authHeaders(),
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id,
        method: "tools/call",
        params: {
          name,
          arguments: args,
          _meta: {
            "io.modelcontextprotocol/protocolVersion": MCP_VERSION,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": { name: "tradeloop-dashboard", version: "1" },
          },
        },
      }),
    });
    if (response.status === 401 || response.status === 403) throw new AuthRequired("token needed");
    const message = await readReply(response, id);
    if (message.error) throw new Error(message.error.message || `${name} failed`);
    return unwrap(message.result);
  };
}

async function readReply(response, id) {
  const type = response.headers.get("content-type") || "";
  if (!type.includes("text/event-stream")) {
    if (!response.ok && !type.includes("json")) throw new Error(`HTTP ${response.status}`);
    return response.json();
  }
  let reply = null;
  await readEvents(response, (_event, data) => {
    const message = JSON.parse(data);
    if (message.id === id && (message.result || message.error)) reply = message;
  });
  if (!reply) throw new Error("the server closed the stream without an answer");
  return reply;
}

/** Calls onEvent(name, data) for every server-sent event until the stream ends. */
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(event, data.join("\n"));
    }
  }
}

/** Follows /dashboard/events, reconnecting after a drop; onState("live" | "offline" | "auth"). */
export function followEvents(onStrategy, onState, base = "") {
  let delay = 1000;
  async function run() {
    for (;;) {
      try {
        const response = await fetch(`${base}/dashboard/events`, { headers: authHeaders() });
        if (response.status === 401 || response.status === 403) {
          onState("auth");
          return;
        }
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        onState("live");
        delay = 1000;
        await readEvents(response, (event, data) => {
          if (event === "strategy") onStrategy(JSON.parse(data));
        });
      } catch {
        // dropped: try again below
      }
      onState("offline");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }
  run();
}
